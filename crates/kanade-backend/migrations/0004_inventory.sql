-- Inventory, compliance checks and notifications. Explode tables (`inv_*`) are not here: the
-- backend creates and reconciles them from the registered jobs' specs.

-- Why a run's inventory/check payload could not be read: a JSON array of messages, or NULL.
ALTER TABLE execution_results ADD COLUMN hint_errors TEXT;

CREATE TABLE inventory_facts (
    pc_id         TEXT NOT NULL,
    job_id        TEXT NOT NULL,
    facts_json    TEXT NOT NULL,
    display_json  TEXT NOT NULL DEFAULT '[]',
    summary_json  TEXT NOT NULL DEFAULT '{}',
    collected_at  TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    PRIMARY KEY (pc_id, job_id)
) WITHOUT ROWID;
CREATE INDEX idx_inventory_facts_job ON inventory_facts (job_id, pc_id);

CREATE TABLE inventory_history (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    pc_id          TEXT NOT NULL,
    job_id         TEXT NOT NULL,
    field_path     TEXT NOT NULL,
    identity_json  TEXT NOT NULL DEFAULT 'null',
    change_kind    TEXT NOT NULL CHECK (change_kind IN ('added', 'removed', 'changed')),
    before_json    TEXT NOT NULL DEFAULT 'null',
    after_json     TEXT NOT NULL DEFAULT 'null',
    observed_at    TEXT NOT NULL
);
CREATE INDEX idx_inventory_history_pc ON inventory_history (pc_id, job_id, observed_at DESC);
CREATE INDEX idx_inventory_history_job ON inventory_history (job_id, observed_at DESC);
CREATE INDEX idx_inventory_history_observed ON inventory_history (observed_at);

CREATE TABLE check_status (
    pc_id        TEXT NOT NULL,
    check_name   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('ok', 'warn', 'fail', 'unknown')),
    detail       TEXT,
    label        TEXT,
    job_id       TEXT NOT NULL,
    result_id    TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (pc_id, check_name)
) WITHOUT ROWID;
CREATE INDEX idx_check_status_name ON check_status (check_name, status);

-- One row per alert decided, so a redelivered result never alerts twice.
CREATE TABLE check_alerts (
    result_id   TEXT NOT NULL,
    check_name  TEXT NOT NULL,
    pc_id       TEXT NOT NULL,
    status      TEXT NOT NULL,
    decided_at  TEXT NOT NULL,
    PRIMARY KEY (result_id, check_name)
) WITHOUT ROWID;

-- Projected from stream NOTIFICATIONS: one row per notification, one per subject it landed on.
CREATE TABLE notifications (
    id           TEXT PRIMARY KEY,
    priority     TEXT NOT NULL,
    require_ack  INTEGER NOT NULL DEFAULT 0,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL DEFAULT '',
    issued_at    TEXT NOT NULL,
    issued_by    TEXT,
    expires_at   TEXT,
    target_json  TEXT NOT NULL DEFAULT '{}',
    recorded_at  TEXT NOT NULL
);
CREATE INDEX idx_notifications_issued ON notifications (issued_at DESC, id DESC);

CREATE TABLE notification_subjects (
    notification_id  TEXT NOT NULL,
    subject          TEXT NOT NULL,
    stream_seq       INTEGER NOT NULL,
    PRIMARY KEY (notification_id, subject)
) WITHOUT ROWID;

-- Projected from EVENTS `events.notifications.acked.>`; the first confirmation is kept.
CREATE TABLE notification_acks (
    notification_id  TEXT NOT NULL,
    pc_id            TEXT NOT NULL,
    user             TEXT NOT NULL,
    acked_at         TEXT NOT NULL,
    recorded_at      TEXT NOT NULL,
    PRIMARY KEY (notification_id, pc_id, user)
) WITHOUT ROWID;
