-- The projection schema. Timestamps are RFC 3339 text in UTC.

CREATE TABLE executions (
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
                   CHECK (status IN ('pending', 'running', 'completed', 'expired')),
    subjects       TEXT NOT NULL DEFAULT '[]',
    deadline_at    TEXT
);
CREATE INDEX idx_executions_initiated_at ON executions (initiated_at DESC, exec_id DESC);
CREATE INDEX idx_executions_job ON executions (job_id, initiated_at DESC);

CREATE TABLE execution_results (
    result_id      TEXT PRIMARY KEY,
    request_id     TEXT NOT NULL,
    exec_id        TEXT NOT NULL,
    pc_id          TEXT NOT NULL,
    job_id         TEXT NOT NULL,
    version        TEXT NOT NULL DEFAULT '',
    exit_code      INTEGER,
    stdout         TEXT NOT NULL DEFAULT '',
    stderr         TEXT NOT NULL DEFAULT '',
    stdout_object  TEXT,
    stderr_object  TEXT,
    started_at     TEXT,
    finished_at    TEXT,
    recorded_at    TEXT,
    expires_at     TEXT,
    skipped        INTEGER NOT NULL DEFAULT 0,
    reaped         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_results_exec ON execution_results (exec_id, pc_id);
CREATE INDEX idx_results_pc ON execution_results (pc_id, started_at DESC);
CREATE INDEX idx_results_started ON execution_results (started_at DESC, result_id DESC);
CREATE INDEX idx_results_in_flight ON execution_results (expires_at) WHERE finished_at IS NULL;

CREATE TABLE agents (
    pc_id                 TEXT PRIMARY KEY,
    hostname              TEXT NOT NULL DEFAULT '',
    os_family             TEXT NOT NULL DEFAULT '',
    os_version            TEXT NOT NULL DEFAULT '',
    agent_version         TEXT NOT NULL DEFAULT '',
    first_seen            TEXT NOT NULL,
    last_heartbeat        TEXT NOT NULL,
    agent_cpu_pct         REAL,
    agent_rss_bytes       INTEGER,
    quarantined_versions  TEXT NOT NULL DEFAULT '[]',
    updated_at            TEXT NOT NULL
);
CREATE INDEX idx_agents_last_heartbeat ON agents (last_heartbeat DESC);
