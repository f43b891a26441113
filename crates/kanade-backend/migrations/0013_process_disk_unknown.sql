-- A process's disk rates are unknown until the agent has two readings of it (issue #14):
-- stored as NULL instead of 0, as host perf numbers already are (0009).

CREATE TABLE process_perf_samples_v2 (
    pc_id                       TEXT NOT NULL,
    at                          TEXT NOT NULL,
    pid                         INTEGER NOT NULL,
    name                        TEXT NOT NULL,
    cpu_pct                     REAL NOT NULL,
    rss_bytes                   INTEGER NOT NULL,
    disk_read_bytes_per_sec     REAL,
    disk_written_bytes_per_sec  REAL,
    PRIMARY KEY (pc_id, at, pid)
) WITHOUT ROWID;
INSERT INTO process_perf_samples_v2 SELECT pc_id, at, pid, name, cpu_pct, rss_bytes,
    disk_read_bytes_per_sec, disk_written_bytes_per_sec FROM process_perf_samples;
DROP TABLE process_perf_samples;
ALTER TABLE process_perf_samples_v2 RENAME TO process_perf_samples;
CREATE INDEX idx_process_perf_at ON process_perf_samples (at);
