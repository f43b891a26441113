-- Lets the results projector apply a result with one statement: the upsert records whether it
-- replaced a reaped row, and returns it, instead of looking the row up first.
ALTER TABLE execution_results ADD COLUMN replaced_reaped INTEGER NOT NULL DEFAULT 0;
