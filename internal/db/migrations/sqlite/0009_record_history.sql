-- Per-record version history of the hub's datasets. Every version a record
-- gets (inserted, changed, marked deleted, corrected through a dispute) is
-- kept here, the current one included, so a record's past content can be
-- read back. Written in the same transaction as the change to
-- dataset_records. Times are unix microseconds.
CREATE TABLE dataset_record_versions (
	item_code  TEXT NOT NULL,
	record_key TEXT NOT NULL,
	version    BIGINT NOT NULL,               -- dataset_records.version this row was
	hash       BIGINT NOT NULL,
	deleted    BIGINT NOT NULL,               -- 1: the version that marked the record deleted
	data       TEXT NOT NULL,                 -- the record's content at this version
	run_id     TEXT NOT NULL,                 -- the sync run (or "correction:<principal>") that made it
	changed_at BIGINT NOT NULL,
	PRIMARY KEY (item_code, record_key, version)
) WITHOUT ROWID;

-- Records synced before history was kept start with their current version.
INSERT INTO dataset_record_versions (item_code, record_key, version, hash, deleted, data, run_id, changed_at)
	SELECT item_code, record_key, version, hash, deleted, data, run_id, updated_at FROM dataset_records;
