-- Only in a `schema-next` build (cargo feature; a test build, never shipped): the migration a
-- newer release would bring, so the two-build upgrade and rollback test has a real newer schema.
-- A new table and a new column on a table every result goes through.
CREATE TABLE schema_next_notes (
    id INTEGER PRIMARY KEY,
    note TEXT NOT NULL
);
INSERT INTO schema_next_notes (note) VALUES ('written by the schema-next migration');
ALTER TABLE execution_results ADD COLUMN schema_next_note TEXT;
