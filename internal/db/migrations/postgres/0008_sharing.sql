-- Sharing workflow: share applications (registrations of 无条件共享 use and
-- applications for 有条件共享 items) and disputes (异议) over records.
CREATE TABLE share_applications (
	id                     TEXT PRIMARY KEY,
	kind                   TEXT NOT NULL,     -- registration, application
	item_code              TEXT NOT NULL,
	provider_department_id TEXT NOT NULL,
	consumer_department_id TEXT NOT NULL,
	applicant_id           TEXT NOT NULL,
	purpose                TEXT NOT NULL,
	scenario               TEXT NOT NULL,
	fields                 TEXT NOT NULL,     -- JSON list of field codes asked for
	valid_until            BIGINT NOT NULL,
	status                 TEXT NOT NULL,     -- pending, approved, refused
	deadline               BIGINT NOT NULL,
	decided_by             TEXT NOT NULL DEFAULT '',
	decided_at             BIGINT,
	reason                 TEXT NOT NULL DEFAULT '',
	granted_fields         TEXT NOT NULL DEFAULT '[]',
	granted_until          BIGINT,
	grant_id               TEXT NOT NULL DEFAULT '',
	created_at             BIGINT NOT NULL
);
CREATE INDEX share_applications_provider ON share_applications(provider_department_id, status, deadline);
CREATE INDEX share_applications_consumer ON share_applications(consumer_department_id, created_at);

CREATE TABLE disputes (
	id                     TEXT PRIMARY KEY,
	item_code              TEXT NOT NULL,
	record_key             TEXT NOT NULL,
	provider_department_id TEXT NOT NULL,
	consumer_department_id TEXT NOT NULL,
	raised_by              TEXT NOT NULL,
	reason                 TEXT NOT NULL,
	status                 TEXT NOT NULL,     -- open, accepted, rejected, archived
	flagged                BIGINT NOT NULL,   -- 1 while the record is being checked
	deadline               BIGINT NOT NULL,
	resolution             TEXT NOT NULL DEFAULT '',
	correction             TEXT NOT NULL DEFAULT '',
	resolved_by            TEXT NOT NULL DEFAULT '',
	resolved_at            BIGINT,
	archived_at            BIGINT,
	created_at             BIGINT NOT NULL
);
CREATE INDEX disputes_record ON disputes(item_code, record_key, flagged);
CREATE INDEX disputes_provider ON disputes(provider_department_id, status, deadline);
