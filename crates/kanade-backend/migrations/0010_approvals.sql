-- The two-person rule: an execution of a job with `require_approval: true` starts
-- `awaiting_approval` and ends `rejected` or `expired` when it is never approved (nothing was
-- sent). The executions table is rebuilt to widen its status CHECK (SQLite cannot alter one),
-- and `approvals` keeps each request with what it asked for; both are rebuilt from the
-- `approval.*` audit events after a wipe.

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
                   CHECK (status IN ('awaiting_approval', 'rejected', 'unconfirmed', 'pending',
                                     'running', 'completed', 'expired')),
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

CREATE TABLE approvals (
    exec_id       TEXT PRIMARY KEY,
    job_id        TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    requested_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'awaiting'
                  CHECK (state IN ('awaiting', 'approved', 'rejected', 'expired')),
    decided_by    TEXT,
    decided_at    TEXT,
    reason        TEXT,
    -- The `approval.request` audit payload (ApprovalRecord): what to send once approved.
    record        TEXT NOT NULL
);
CREATE INDEX idx_approvals_state ON approvals (state, expires_at);
