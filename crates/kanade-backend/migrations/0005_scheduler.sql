-- Scheduler and wave rollouts: where each execution's rollout stands (all NULL for an
-- execution without waves), and indexes for the scheduler's questions.

ALTER TABLE executions ADD COLUMN rollout_status TEXT
    CHECK (rollout_status IS NULL OR rollout_status IN ('running', 'done', 'halted'));
ALTER TABLE executions ADD COLUMN rollout_waves_total INTEGER;
ALTER TABLE executions ADD COLUMN rollout_waves_published INTEGER;
ALTER TABLE executions ADD COLUMN rollout_note TEXT;

-- "Which executions of schedule S are unfinished?" (max_concurrent).
CREATE INDEX idx_executions_initiated_by ON executions (initiated_by, status);
-- "When did each machine last run job J successfully?" (per_pc, per_target).
CREATE INDEX idx_results_job_pc ON execution_results (job_id, pc_id, finished_at DESC);
