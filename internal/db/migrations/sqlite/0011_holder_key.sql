-- Holder lookups go through an 8-byte key of (holder id type, holder id)
-- instead of an index on the text columns: holders arrive in random
-- order, and the text index (about 55 bytes an entry) outgrew the page
-- cache during bulk imports, so that most inserts read a page back and
-- every transaction rewrote thousands of them. Lookups compare the full
-- values on the few rows a key finds. The key is db.Key64 of
-- holder_id_type || ':' || holder_id.
ALTER TABLE licences ADD COLUMN holder_key BIGINT NOT NULL DEFAULT 0;
UPDATE licences SET holder_key = sharehub_key64(holder_id_type || ':' || holder_id);
DROP INDEX licences_holder;
CREATE INDEX licences_holder_key ON licences(holder_key);
