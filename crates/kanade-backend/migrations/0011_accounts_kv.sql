-- Accounts and sessions are durable in KV `accounts` / `sessions` now; these tables are this
-- replica's read model of them. `kv_rev` is the KV revision a row was last read at (a row
-- applied from an older revision never overwrites a newer one). Rows from before this
-- migration have none: the backend publishes them to KV once, at its next start.

ALTER TABLE users ADD COLUMN kv_rev INTEGER;
ALTER TABLE sessions ADD COLUMN kv_rev INTEGER;
