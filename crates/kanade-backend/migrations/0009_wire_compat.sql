-- The original's wire fields (issue #14): who is logged on, the agent's own disk counters and
-- the command formats it speaks, from heartbeats; and host perf samples whose numbers may be
-- missing (the first tick has no rates), stored as NULL instead of being dropped.

ALTER TABLE agents ADD COLUMN last_logon_user TEXT;
ALTER TABLE agents ADD COLUMN last_logon_display_name TEXT;
ALTER TABLE agents ADD COLUMN agent_disk_read_bytes INTEGER;
ALTER TABLE agents ADD COLUMN agent_disk_written_bytes INTEGER;
ALTER TABLE agents ADD COLUMN command_protocols TEXT;

CREATE TABLE host_perf_samples_v2 (
    pc_id                       TEXT NOT NULL,
    at                          TEXT NOT NULL,
    cpu_pct                     REAL,
    cpu_count                   INTEGER,
    mem_used_bytes              INTEGER,
    mem_total_bytes             INTEGER,
    swap_used_bytes             INTEGER,
    swap_total_bytes            INTEGER,
    disk_read_bytes_per_sec     REAL,
    disk_written_bytes_per_sec  REAL,
    net_rx_bytes_per_sec        REAL,
    net_tx_bytes_per_sec        REAL,
    PRIMARY KEY (pc_id, at)
) WITHOUT ROWID;
INSERT INTO host_perf_samples_v2 SELECT pc_id, at, cpu_pct, cpu_count, mem_used_bytes,
    mem_total_bytes, swap_used_bytes, swap_total_bytes, disk_read_bytes_per_sec,
    disk_written_bytes_per_sec, net_rx_bytes_per_sec, net_tx_bytes_per_sec FROM host_perf_samples;
DROP TABLE host_perf_samples;
ALTER TABLE host_perf_samples_v2 RENAME TO host_perf_samples;
CREATE INDEX idx_host_perf_at ON host_perf_samples (at);
