-- The runs of an execution still going (a started event seen, no result yet), by machine.
-- Every read of an execution counts them as "running"; it counted the machines with a row
-- instead (`COUNT(DISTINCT pc_id)` over every run), which read 100,000 index entries per
-- poll of a 100,000-machine fan-out. Rows arrive finished in most fan-outs, so this index
-- stays small.
CREATE INDEX idx_results_unfinished ON execution_results (exec_id, pc_id) WHERE finished_at IS NULL;

-- `recorded_at` was indexed for the results' retention, which selects by
-- `COALESCE(finished_at, started_at, recorded_at)` and so never used it (each pass read the
-- whole table); retention now selects by `started_at` through `idx_results_started`, and each
-- projected result saves the write into this index.
DROP INDEX idx_results_recorded;

-- "When did each machine last run job J successfully?" (the scheduler's per_pc and
-- per_target modes) was answered by an index on every run, (job_id, pc_id, finished_at),
-- which each fan-out of a job grew with a row per machine at a random place: the costliest
-- index of the results projector's inserts. This table keeps one row per (job, machine),
-- upserted with each successful result.
CREATE TABLE job_successes (
    job_id      TEXT NOT NULL,
    pc_id       TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (job_id, pc_id)
) WITHOUT ROWID;
INSERT INTO job_successes (job_id, pc_id, finished_at)
    SELECT job_id, pc_id, MAX(finished_at) FROM execution_results
    WHERE finished_at IS NOT NULL AND exit_code = 0 AND skipped = 0 AND reaped = 0
    GROUP BY job_id, pc_id;
DROP INDEX idx_results_job_pc;
