-- E-licence registry (电子证照库): licence types, licences, their sealed
-- versions, seal batches of bulk imports. Times are unix microseconds;
-- calendar dates (issue date, validity) are 'YYYY-MM-DD' text, '' for none.
CREATE TABLE licence_types (
	code           TEXT PRIMARY KEY,          -- 21-character 证照类型代码
	name           TEXT NOT NULL,             -- 证照类型名称
	definer_id     TEXT NOT NULL REFERENCES departments(id),
	holder_kind    TEXT NOT NULL,             -- person, organisation
	validity_years BIGINT NOT NULL,           -- 0: no fixed validity
	doc            TEXT NOT NULL,             -- licence.Type as JSON
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL
);

CREATE TABLE licence_type_issuers (
	type_code     TEXT NOT NULL REFERENCES licence_types(code),
	department_id TEXT NOT NULL REFERENCES departments(id),
	PRIMARY KEY (type_code, department_id)
) WITHOUT ROWID;

-- One row per licence: what lookups need of its current version, whose
-- data (the sealed document) is in licence_versions. id is the identifier
-- without version and check character: 1.2.156.3005.2.TYPE.ISSUER.SERIAL.
CREATE TABLE licences (
	id             TEXT PRIMARY KEY,
	type_code      TEXT NOT NULL,
	number         TEXT NOT NULL,             -- 证照编号
	issuer_id      TEXT NOT NULL,             -- department id
	holder_name    TEXT NOT NULL,
	holder_id_type TEXT NOT NULL,             -- 111 居民身份证号, 001 统一社会信用代码
	holder_id      TEXT NOT NULL,
	status         TEXT NOT NULL,             -- 01 有效, 02 暂扣, 03 撤销, 04 注销, 07 吊销
	version        BIGINT NOT NULL,
	valid_until    TEXT NOT NULL,
	updated_at     BIGINT NOT NULL,
	UNIQUE (type_code, number)
);
CREATE INDEX licences_holder ON licences(holder_id, holder_id_type, type_code);

CREATE TABLE licence_versions (
	licence_id  TEXT NOT NULL,
	version     BIGINT NOT NULL,
	event       TEXT NOT NULL,                -- issue, amend, renew, suspend, return, revoke, cancel, file
	at          BIGINT NOT NULL,
	by_id       TEXT NOT NULL,
	reason      TEXT NOT NULL,
	digest      TEXT NOT NULL,                -- SHA-256 hex of doc
	doc         TEXT NOT NULL,                -- the licence data as sealed
	seal_jws    TEXT,                         -- the issuer's seal over doc; NULL when sealed in a batch
	batch_id    TEXT,                         -- licence_seal_batches.id
	batch_index BIGINT,
	PRIMARY KEY (licence_id, version)
); -- a rowid table: rows of about 1 KB are too big for WITHOUT ROWID

-- A bulk import seals each batch of versions once: the sealed document is
-- the manifest, the concatenated 32-byte digests of the batch's versions.
CREATE TABLE licence_seal_batches (
	id         TEXT PRIMARY KEY,
	manifest   BLOB NOT NULL,
	seal_jws   TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
