-- A machine's runs were indexed by (pc_id, started_at): each fan-out put one entry per machine
-- at a random place of an index as large as the table, with a 24-byte timestamp in every
-- entry, and the commits of its batches rewrote most of that index's pages. A machine has a
-- few hundred runs in the retention window; they are found by pc_id alone and sorted, and the
-- narrower entries make a fan-out dirty about a third of the pages (BENCHMARKS.md, fan-out).
-- `store::results::list` now asks by machine through this index (it read the whole table).
DROP INDEX idx_results_pc;
CREATE INDEX idx_results_pc ON execution_results (pc_id);

-- Each successful result was upserted into `job_successes` (one row per job and machine) in
-- the results projector's transaction: a fan-out rewrote that job's rows at random places in
-- every batch. The projector now appends to this queue (rows in insertion order: one page per
-- ~80 results), and `store::results::fold_successes` merges it into `job_successes` in one
-- sorted pass before the scheduler reads it and at each housekeeping pass.
CREATE TABLE job_success_queue (
    job_id      TEXT NOT NULL,
    pc_id       TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
