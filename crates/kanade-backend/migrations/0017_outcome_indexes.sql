-- Every read of an execution counts its runs by outcome. Reading every row of a large fan-out
-- (the end of stderr included) on each poll cost more CPU than projecting the fan-out itself;
-- the counters on `executions` already split success / failure / skipped, so only the rows
-- that need a closer look are read, through these small partial indexes:
-- runs stopped with exit -1 (timed out, killed or reaped) …
CREATE INDEX idx_results_stopped ON execution_results (exec_id) WHERE exit_code = -1;
-- … runs the agent skipped (counted by reason) …
CREATE INDEX idx_results_skipped ON execution_results (exec_id, exit_code) WHERE skipped = 1;
-- … and the check results of one execution, which had to be joined through every run.
ALTER TABLE check_history ADD COLUMN exec_id TEXT NOT NULL DEFAULT '';
UPDATE check_history SET exec_id = COALESCE(
    (SELECT r.exec_id FROM execution_results r WHERE r.result_id = check_history.result_id), '');
CREATE INDEX idx_check_history_exec ON check_history (exec_id, status);
