-- Every check result (not only the latest per machine, which check_status keeps), so the
-- compliance page can draw each check's trend. Pruned with the results window.
CREATE TABLE check_history (
    result_id    TEXT NOT NULL,
    check_name   TEXT NOT NULL,
    pc_id        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('ok', 'warn', 'fail', 'unknown')),
    finished_at  TEXT NOT NULL,
    PRIMARY KEY (result_id, check_name)
) WITHOUT ROWID;
CREATE INDEX idx_check_history_name ON check_history (check_name, finished_at);
CREATE INDEX idx_check_history_finished ON check_history (finished_at);

-- What is known so far: each machine's latest result of each check.
INSERT INTO check_history (result_id, check_name, pc_id, status, finished_at)
SELECT result_id, check_name, pc_id, status, finished_at FROM check_status;
