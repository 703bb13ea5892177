-- Foundation: departments, principals, API keys, grants, quota usage, hub keys.
-- Times are unix microseconds (BIGINT) on both engines.
CREATE TABLE departments (
	id         TEXT PRIMARY KEY,
	code       TEXT NOT NULL UNIQUE,          -- 统一社会信用代码
	name       TEXT NOT NULL,
	kind       TEXT NOT NULL,                 -- city, district, county, office, organisation
	parent_id  TEXT REFERENCES departments(id),
	created_at BIGINT NOT NULL
);
CREATE INDEX departments_parent ON departments(parent_id);

CREATE TABLE principals (
	id            TEXT PRIMARY KEY,
	department_id TEXT NOT NULL REFERENCES departments(id),
	name          TEXT NOT NULL,
	roles         TEXT NOT NULL,              -- space-separated role names
	created_at    BIGINT NOT NULL,
	disabled_at   BIGINT,
	UNIQUE (department_id, name)
);

CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	principal_id TEXT NOT NULL REFERENCES principals(id),
	hash         BYTEA NOT NULL UNIQUE,        -- SHA-256 of the secret; the secret is never stored
	name         TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT,
	revoked_at   BIGINT
);
CREATE INDEX api_keys_principal ON api_keys(principal_id);

CREATE TABLE grants (
	id                     TEXT PRIMARY KEY,
	consumer_department_id TEXT NOT NULL REFERENCES departments(id),
	resource_kind          TEXT NOT NULL,     -- catalog_item, licence_type, ...
	resource_id            TEXT NOT NULL,
	fields                 TEXT NOT NULL,     -- JSON array of field codes; ["*"] for all
	purpose                TEXT NOT NULL,
	valid_from             BIGINT NOT NULL,
	valid_until            BIGINT NOT NULL,
	daily_quota            BIGINT NOT NULL,   -- 0 means unlimited
	source                 TEXT NOT NULL,     -- admin, application, registration
	created_by             TEXT NOT NULL,
	created_at             BIGINT NOT NULL,
	revoked_at             BIGINT,
	revoked_by             TEXT,
	revoke_reason          TEXT
);
CREATE INDEX grants_lookup ON grants(consumer_department_id, resource_kind, resource_id);

CREATE TABLE grant_usage (
	grant_id TEXT NOT NULL REFERENCES grants(id),
	day      TEXT NOT NULL,                   -- YYYY-MM-DD in the hub's time zone
	used     BIGINT NOT NULL,
	PRIMARY KEY (grant_id, day)
);

CREATE TABLE hub_keys (
	id          TEXT PRIMARY KEY,             -- key id as published (kid / note key name+hash)
	purpose     TEXT NOT NULL,                -- checkpoint, token, ca, link
	alg         TEXT NOT NULL,
	public_key  BYTEA NOT NULL,
	private_enc BYTEA NOT NULL,                -- AES-256-GCM under the master key
	created_at  BIGINT NOT NULL,
	retired_at  BIGINT
);
CREATE INDEX hub_keys_purpose ON hub_keys(purpose, created_at);
