-- Nothing to do on SQLite: the PostgreSQL migration of this number adds
-- the function that lets the audit writer send a batch in one round trip;
-- here the one writer connection already serialises batches in process.
SELECT 1;
