-- An execution whose command the broker may have stored without acknowledging it is
-- `unconfirmed` until results arrive or a retried publish is acknowledged. SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt with the same columns.

CREATE TABLE executions_new (
    exec_id        TEXT PRIMARY KEY,
    job_id         TEXT NOT NULL,
    version        TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    initiated_by   TEXT NOT NULL,
    initiated_at   TEXT NOT NULL,
    target_count   INTEGER NOT NULL,
    success_count  INTEGER NOT NULL DEFAULT 0,
    failure_count  INTEGER NOT NULL DEFAULT 0,
    skipped_count  INTEGER NOT NULL DEFAULT 0,
    status         TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('unconfirmed', 'pending', 'running', 'completed', 'expired')),
    subjects       TEXT NOT NULL DEFAULT '[]',
    deadline_at    TEXT,
    rollout_status TEXT
        CHECK (rollout_status IS NULL OR rollout_status IN ('running', 'done', 'halted')),
    rollout_waves_total INTEGER,
    rollout_waves_published INTEGER,
    rollout_note   TEXT
);
INSERT INTO executions_new (exec_id, job_id, version, request_id, initiated_by, initiated_at,
    target_count, success_count, failure_count, skipped_count, status, subjects, deadline_at,
    rollout_status, rollout_waves_total, rollout_waves_published, rollout_note)
SELECT exec_id, job_id, version, request_id, initiated_by, initiated_at,
    target_count, success_count, failure_count, skipped_count, status, subjects, deadline_at,
    rollout_status, rollout_waves_total, rollout_waves_published, rollout_note
FROM executions;
DROP TABLE executions;
ALTER TABLE executions_new RENAME TO executions;
CREATE INDEX idx_executions_initiated_at ON executions (initiated_at DESC, exec_id DESC);
CREATE INDEX idx_executions_job ON executions (job_id, initiated_at DESC);
CREATE INDEX idx_executions_initiated_by ON executions (initiated_by, status);
