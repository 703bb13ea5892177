-- Seals (电子印章): the hub's seal CA, seals, their status history, their
-- keys and certificates, and their usage (用印记录).
-- Times are unix microseconds (BIGINT). Private keys are stored only as
-- AES-256-GCM ciphertext under the master key, bound to their row by the
-- label "seal_ca/ID" or "seal_keys/KID".
CREATE TABLE seal_ca (
	id          TEXT PRIMARY KEY,
	alg         TEXT NOT NULL,                 -- Ed25519
	public_key  BYTEA NOT NULL,
	private_enc BYTEA NOT NULL,                -- encrypted Ed25519 seed
	cert_der    BYTEA NOT NULL,                -- self-signed root certificate
	created_at  BIGINT NOT NULL,
	retired_at  BIGINT
);

CREATE TABLE seals (
	id                TEXT PRIMARY KEY,
	organisation_id   TEXT NOT NULL REFERENCES departments(id),
	organisation_name TEXT NOT NULL,           -- as certified, at creation
	credit_code       TEXT NOT NULL,           -- 统一社会信用代码, as certified
	name              TEXT NOT NULL,
	kind              TEXT NOT NULL CHECK (kind IN ('公章', '合同专用章', '财务专用章', '发票专用章', '业务专用章', '法定名称章')),
	image_key         TEXT NOT NULL,           -- blob store key
	image_media_type  TEXT NOT NULL,
	alg               TEXT NOT NULL CHECK (alg IN ('Ed25519', 'ES256')),
	valid_from        BIGINT NOT NULL,
	valid_until       BIGINT NOT NULL,
	status            TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
	status_changed_at BIGINT NOT NULL,
	created_by        TEXT NOT NULL,
	created_at        BIGINT NOT NULL
);
-- One live seal of a name per organisation; a revoked seal's name can be reused.
CREATE UNIQUE INDEX seals_org_name ON seals(organisation_id, name) WHERE status <> 'revoked';
CREATE INDEX seals_org ON seals(organisation_id, id);

-- Every status a seal has had, so "status at signing time" can be answered.
CREATE TABLE seal_status_events (
	seal_id TEXT NOT NULL REFERENCES seals(id),
	seq     BIGINT NOT NULL,                   -- 1 is the creation
	status  TEXT NOT NULL,
	at      BIGINT NOT NULL,
	reason  TEXT NOT NULL,
	by_id   TEXT NOT NULL,                     -- principal
	PRIMARY KEY (seal_id, seq)
);

CREATE TABLE seal_keys (
	kid         TEXT PRIMARY KEY,              -- RFC 7638 JWK thumbprint
	seal_id     TEXT NOT NULL REFERENCES seals(id),
	alg         TEXT NOT NULL,
	public_key  BYTEA NOT NULL,                -- SubjectPublicKeyInfo DER
	private_enc BYTEA NOT NULL,                -- encrypted PKCS #8
	cert_der    BYTEA NOT NULL,                -- issued by the seal CA
	thumbprint  TEXT NOT NULL UNIQUE,          -- x5t#S256
	ca_id       TEXT NOT NULL REFERENCES seal_ca(id),
	created_at  BIGINT NOT NULL,
	retired_at  BIGINT                         -- replaced by a newer key; stays verifiable
);
CREATE INDEX seal_keys_seal ON seal_keys(seal_id, created_at);

-- 用印记录: who applied which seal to which digest, why and when. The key
-- is also the listing order (a seal's records, newest first), so each row
-- costs one B-tree insert.
CREATE TABLE seal_usage (
	seal_id       TEXT NOT NULL REFERENCES seals(id),
	id            TEXT NOT NULL,               -- time-ordered
	kid           TEXT NOT NULL,
	principal_id  TEXT NOT NULL,               -- of the seal's organisation, as Sign requires
	sha256        TEXT NOT NULL,
	size          BIGINT NOT NULL,
	media_type    TEXT NOT NULL,
	document_name TEXT NOT NULL,
	purpose       TEXT NOT NULL,
	signed_at     BIGINT NOT NULL,
	PRIMARY KEY (seal_id, id)
);
