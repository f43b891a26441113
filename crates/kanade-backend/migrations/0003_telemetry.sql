-- Fleet telemetry: liveness transitions, performance series and per-machine timelines.

ALTER TABLE agents ADD COLUMN liveness TEXT NOT NULL DEFAULT 'online'
    CHECK (liveness IN ('online', 'offline'));

CREATE TABLE host_perf_samples (
    pc_id                       TEXT NOT NULL,
    at                          TEXT NOT NULL,
    cpu_pct                     REAL NOT NULL,
    cpu_count                   INTEGER NOT NULL,
    mem_used_bytes              INTEGER NOT NULL,
    mem_total_bytes             INTEGER NOT NULL,
    swap_used_bytes             INTEGER NOT NULL,
    swap_total_bytes            INTEGER NOT NULL,
    disk_read_bytes_per_sec     REAL NOT NULL,
    disk_written_bytes_per_sec  REAL NOT NULL,
    net_rx_bytes_per_sec        REAL NOT NULL,
    net_tx_bytes_per_sec        REAL NOT NULL,
    PRIMARY KEY (pc_id, at)
) WITHOUT ROWID;
CREATE INDEX idx_host_perf_at ON host_perf_samples (at);

CREATE TABLE process_perf_samples (
    pc_id                       TEXT NOT NULL,
    at                          TEXT NOT NULL,
    pid                         INTEGER NOT NULL,
    name                        TEXT NOT NULL,
    cpu_pct                     REAL NOT NULL,
    rss_bytes                   INTEGER NOT NULL,
    disk_read_bytes_per_sec     REAL NOT NULL,
    disk_written_bytes_per_sec  REAL NOT NULL,
    PRIMARY KEY (pc_id, at, pid)
) WITHOUT ROWID;
CREATE INDEX idx_process_perf_at ON process_perf_samples (at);

CREATE TABLE obs_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    pc_id            TEXT NOT NULL,
    at               TEXT NOT NULL,
    kind             TEXT NOT NULL,
    source           TEXT NOT NULL,
    event_record_id  TEXT,
    payload          TEXT NOT NULL DEFAULT 'null',
    recorded_at      TEXT NOT NULL,
    stream_seq       INTEGER
);
CREATE UNIQUE INDEX idx_obs_identity ON obs_events (pc_id, source, event_record_id)
    WHERE event_record_id IS NOT NULL;
CREATE UNIQUE INDEX idx_obs_stream_seq ON obs_events (stream_seq) WHERE event_record_id IS NULL;
CREATE INDEX idx_obs_pc_at ON obs_events (pc_id, at DESC);
CREATE INDEX idx_obs_at ON obs_events (at DESC);
CREATE INDEX idx_obs_kind ON obs_events (kind, at DESC);

CREATE INDEX idx_results_recorded ON execution_results (recorded_at);
