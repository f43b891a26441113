-- Accounts (the only durable state in the database; `wipe-projector` keeps them) and the
-- audit trail projected from stream AUDIT.

CREATE TABLE users (
    username        TEXT PRIMARY KEY,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    disabled        INTEGER NOT NULL DEFAULT 0,
    must_change_pw  INTEGER NOT NULL DEFAULT 0,
    email           TEXT,
    totp_secret     TEXT,
    totp_pending    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- Signed-out session tokens, until they would have expired anyway.
CREATE TABLE revoked_sessions (
    jti         TEXT PRIMARY KEY,
    expires_at  TEXT NOT NULL
);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT,
    payload      TEXT NOT NULL DEFAULT '{}',
    occurred_at  TEXT NOT NULL,
    client_addr  TEXT,
    stream_seq   INTEGER UNIQUE
);
CREATE INDEX idx_audit_occurred ON audit_log (occurred_at DESC, id DESC);
CREATE INDEX idx_audit_actor ON audit_log (actor, occurred_at DESC);
CREATE INDEX idx_audit_action ON audit_log (action, occurred_at DESC);
