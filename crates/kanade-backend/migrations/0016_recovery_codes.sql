-- MFA recovery codes: the SHA-256 (hex) of each unused one-time code, a JSON array, mirrored
-- from the account's document in KV `accounts` like the TOTP secret.
ALTER TABLE users ADD COLUMN recovery_codes TEXT NOT NULL DEFAULT '[]';
