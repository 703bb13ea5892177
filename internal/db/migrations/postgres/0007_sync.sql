-- Sync jobs (数据回落): jobs, runs, per-row run errors, the staging area of
-- a run in progress, files already taken from S3 prefixes, and the hub's
-- dataset records. Times are unix microseconds.
CREATE TABLE sync_jobs (
	id         TEXT PRIMARY KEY,
	item_code  TEXT NOT NULL,
	name       TEXT NOT NULL,
	spec       TEXT NOT NULL,                 -- the job's definition as JSON (datasync.Spec)
	paused     BIGINT NOT NULL DEFAULT 0,
	cursor_at  TEXT NOT NULL DEFAULT '',      -- incremental: the cursor reached by the last applied run
	created_by TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX sync_jobs_item ON sync_jobs(item_code);

CREATE TABLE sync_runs (
	id           TEXT PRIMARY KEY,
	job_id       TEXT NOT NULL REFERENCES sync_jobs(id),
	cause        TEXT NOT NULL,               -- schedule, manual, retry, resume
	attempt      BIGINT NOT NULL,
	status       TEXT NOT NULL,               -- running, succeeded, partly, failed
	started_at   BIGINT NOT NULL,
	finished_at  BIGINT,
	rows_read    BIGINT NOT NULL DEFAULT 0,
	inserted     BIGINT NOT NULL DEFAULT 0,
	updated      BIGINT NOT NULL DEFAULT 0,
	unchanged    BIGINT NOT NULL DEFAULT 0,
	deleted      BIGINT NOT NULL DEFAULT 0,
	rejected     BIGINT NOT NULL DEFAULT 0,
	errors_kept  BIGINT NOT NULL DEFAULT 0,
	cursor_from  TEXT NOT NULL DEFAULT '',
	cursor_to    TEXT NOT NULL DEFAULT '',
	checkpoint   TEXT NOT NULL DEFAULT '',    -- where the source resumes after a crash
	source_count BIGINT NOT NULL DEFAULT -1,  -- records the source says it has; -1 unknown
	drift        TEXT NOT NULL DEFAULT '',    -- JSON: new and missing source fields
	error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sync_runs_job ON sync_runs(job_id, started_at);
CREATE INDEX sync_runs_status ON sync_runs(status);

CREATE TABLE sync_run_errors (
	run_id     TEXT NOT NULL,
	seq        BIGINT NOT NULL,
	record_key TEXT NOT NULL,
	source_pos TEXT NOT NULL,                 -- page/row or file/row in the source
	reason     TEXT NOT NULL,
	PRIMARY KEY (run_id, seq)
);

-- A run's records wait here until the run has read everything; then one
-- transaction applies them, so a dataset is never half-written. UNLOGGED:
-- staging writes no WAL; after a PostgreSQL crash the table is empty, and a
-- resumed run that finds fewer staged rows than it counted starts afresh.
CREATE UNLOGGED TABLE sync_stage (
	run_id     TEXT NOT NULL,
	record_key TEXT NOT NULL,
	hash       BIGINT NOT NULL,
	tombstone  BIGINT NOT NULL,
	data       TEXT NOT NULL,
	PRIMARY KEY (run_id, record_key)
);

CREATE TABLE sync_files (
	job_id     TEXT NOT NULL,
	object_key TEXT NOT NULL,
	etag       TEXT NOT NULL,
	run_id     TEXT NOT NULL,
	taken_at   BIGINT NOT NULL,
	PRIMARY KEY (job_id, object_key, etag)
);

CREATE TABLE dataset_records (
	item_code  TEXT NOT NULL,
	record_key TEXT NOT NULL,                 -- key field values joined by '|'
	version    BIGINT NOT NULL,               -- 1 on insert, +1 on every change or deletion
	hash       BIGINT NOT NULL,               -- first 8 bytes of SHA-256 of data
	deleted    BIGINT NOT NULL DEFAULT 0,     -- gone from the source; kept, not erased
	data       TEXT NOT NULL,                 -- the record as JSON, item field codes as names
	run_id     TEXT NOT NULL,                 -- the run that last changed it
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (item_code, record_key)
);
CREATE INDEX dataset_records_updated ON dataset_records(item_code, updated_at);
