-- Audit log: a tamper-evident, append-only record of every data call
-- (internal/audit). Entries are the leaves of an RFC 6962 Merkle tree.
-- Times are unix microseconds. Rows are only ever inserted, never updated.

-- One row per leaf. idx is the leaf index: 0, 1, 2, ... with no gaps.
CREATE TABLE audit_entries (
	idx           BIGINT PRIMARY KEY,
	at            BIGINT NOT NULL,
	request_id    TEXT NOT NULL,
	principal_id  TEXT NOT NULL,
	department_id TEXT NOT NULL,
	method        TEXT NOT NULL,
	route         TEXT NOT NULL,               -- route template, /v1/grants/:id
	resources     TEXT NOT NULL,               -- "kind:id" strings joined by newlines
	purpose       TEXT NOT NULL,
	end_user      TEXT NOT NULL,
	case_number   TEXT NOT NULL,
	status        INTEGER NOT NULL,
	row_count     BIGINT NOT NULL,
	latency_us    BIGINT NOT NULL,
	request_hash  BYTEA NOT NULL,              -- SHA-256 of the request
	leaf_hash     BYTEA NOT NULL               -- SHA-256(0x00 || LeafData)
);
-- Search filters; each ends in idx so that a filtered page is read in order.
CREATE INDEX audit_entries_at ON audit_entries(at);
CREATE INDEX audit_entries_principal ON audit_entries(principal_id, idx);
CREATE INDEX audit_entries_department ON audit_entries(department_id, idx);
CREATE INDEX audit_entries_route ON audit_entries(route, idx);
-- Only failures are indexed by status: auditors look for them, and they are
-- rare, while a newest-first scan finds successes at once. Search adds the
-- same "status >= 400" term so that both planners use it.
CREATE INDEX audit_entries_failures ON audit_entries(status, idx) WHERE status >= 400;

-- Search index from each resource an entry names to the entry. Derived from
-- audit_entries.resources (which the Merkle tree covers), written in the same
-- transaction.
CREATE TABLE audit_resources (
	resource TEXT NOT NULL,
	idx      BIGINT NOT NULL,
	PRIMARY KEY (resource, idx)
);

-- Hashes of the perfect subtrees of 256 leaves or more (level >= 8), so that
-- proofs and restarts read O(log n) rows. Lower nodes are recomputed from at
-- most 256 leaf hashes.
CREATE TABLE audit_nodes (
	level INTEGER NOT NULL,
	idx   BIGINT NOT NULL,                     -- node index within its level
	hash  BYTEA NOT NULL,
	PRIMARY KEY (level, idx)
);

-- Signed checkpoints (C2SP signed-note text), one per published tree size.
CREATE TABLE audit_checkpoints (
	size BIGINT PRIMARY KEY,
	root BYTEA NOT NULL,
	at   BIGINT NOT NULL,
	note TEXT NOT NULL
);

-- Takes the audit log's append lock (the transaction-scoped advisory lock
-- whose key internal/audit passes) and returns the number of committed
-- entries, read after the lock is granted: one round trip per batch
-- instead of two. VOLATILE, so the query takes its snapshot after the lock
-- is granted and sees every batch committed before.
CREATE FUNCTION audit_lock_size(lock_key BIGINT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(lock_key);
	RETURN (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries);
END
$$;
