-- Sessions bind to an immutable account id, not to the user name: an account deleted and
-- created again under the same name is a different account, and its old tokens stay dead.
-- Every issued session is recorded, so the events that must end an account's other sessions
-- (password change or reset, disable, role change, delete) can delete them. Both survive
-- `wipe-projector` with the accounts.

ALTER TABLE users ADD COLUMN account_id TEXT;
UPDATE users SET account_id = lower(hex(randomblob(16))) WHERE account_id IS NULL;
CREATE UNIQUE INDEX idx_users_account_id ON users (account_id);

CREATE TABLE sessions (
    jti         TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX idx_sessions_account ON sessions (account_id);
CREATE INDEX idx_sessions_expires ON sessions (expires_at);
