-- Web console sessions. The cookie holds a random 32-byte session id; only
-- its SHA-256 is stored. A session is opened with an API key and re-checks
-- that key on every page view, so revoking the key ends the session.
CREATE TABLE console_sessions (
	hash         BLOB PRIMARY KEY,    -- SHA-256 of the cookie's session id
	key_id       TEXT NOT NULL REFERENCES api_keys(id),
	principal_id TEXT NOT NULL REFERENCES principals(id),
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,     -- min(last use + 8 h, created_at + 12 h)
	csrf_token   TEXT NOT NULL        -- the token every POST form of the session carries
);
CREATE INDEX console_sessions_expires ON console_sessions(expires_at);
CREATE INDEX console_sessions_key ON console_sessions(key_id);
