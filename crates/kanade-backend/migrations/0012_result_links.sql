-- The original's result links (issue #14): the object-store key of a collected file bundle
-- (`collect_object`) and the result a finalize run belongs to (`parent_result_id`), kept as
-- the agent reported them instead of being dropped.

ALTER TABLE execution_results ADD COLUMN collect_object TEXT;
ALTER TABLE execution_results ADD COLUMN parent_result_id TEXT;
