-- audit_lock_expect takes the audit log's lock, like audit_lock_size,
-- and raises SQLSTATE SHAUD unless the committed size is the expected
-- one. The writer sends it with a batch's INSERT in one pipeline, so that
-- a batch costs one round trip; on SHAUD the implicit transaction rolls
-- back and the writer takes the four-round-trip path that reloads the
-- tree (internal/audit/pipeline.go).
CREATE FUNCTION audit_lock_expect(lock_key BIGINT, expected BIGINT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	size BIGINT;
BEGIN
	size := audit_lock_size(lock_key);
	IF size <> expected THEN
		RAISE EXCEPTION 'audit log size is %, this writer expected %', size, expected USING ERRCODE = 'SHAUD';
	END IF;
	RETURN size;
END
$$;
