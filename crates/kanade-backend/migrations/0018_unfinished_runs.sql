-- The runs of an execution still going (a started event seen, no result yet), by machine.
-- Every read of an execution counts them as "running"; it counted the machines with a row
-- instead (`COUNT(DISTINCT pc_id)` over every run), which read 100,000 index entries per
-- poll of a 100,000-machine fan-out. Rows arrive finished in most fan-outs, so this index
-- stays small.
CREATE INDEX idx_results_unfinished ON execution_results (exec_id, pc_id) WHERE finished_at IS NULL;
