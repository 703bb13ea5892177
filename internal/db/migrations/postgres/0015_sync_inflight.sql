-- Writers of dataset_records in flight (sync/watermark.go). A writer
-- stamps its rows' updated_at before its transaction commits, so a
-- consumer that asks for records changed since the time of its last pull
-- missed rows stamped before that time and committed after it. Each
-- writer registers here, in a transaction of its own, the stamp it will
-- use (or a lower one) before it stamps anything, and deletes its row in
-- the transaction that writes the records: the row and the records become
-- visible together. A records listing resumes at the oldest live stamp of
-- its item (less a clock-skew margin). expires_at bounds how long a
-- crashed writer's row holds the resume point back; a writer whose row
-- expired does not commit. Times are unix microseconds.
CREATE TABLE sync_inflight (
	id         TEXT PRIMARY KEY,
	item_code  TEXT NOT NULL,
	stamp      BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sync_inflight_item ON sync_inflight(item_code, stamp);

-- A run started with the full-refresh deletion guard lifted
-- (allow_mass_delete on the manual run request): kept on the run, so
-- that the run resumed after a restart keeps it, and shown with it.
ALTER TABLE sync_runs ADD COLUMN allow_mass_delete BIGINT NOT NULL DEFAULT 0;
