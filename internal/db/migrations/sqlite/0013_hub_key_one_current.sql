-- At most one current (unretired) hub key per purpose. Two replicas
-- starting on a fresh database could each find no key and each create
-- one, and then each signed with its own: an auditor trusting one
-- published verifier key rejected the other's checkpoints. With this
-- index the second INSERT (ON CONFLICT DO NOTHING) is skipped and its
-- replica reads the first's key.
--
-- Keys a past race left current are retired first, but the one
-- Ring.Current chose (newest, then smallest id); retired keys stay
-- listed, so what they signed still verifies.
UPDATE hub_keys SET retired_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000
WHERE retired_at IS NULL AND EXISTS (
	SELECT 1 FROM hub_keys o
	WHERE o.purpose = hub_keys.purpose AND o.retired_at IS NULL
	  AND (o.created_at > hub_keys.created_at OR (o.created_at = hub_keys.created_at AND o.id < hub_keys.id)));
CREATE UNIQUE INDEX hub_keys_one_current ON hub_keys(purpose) WHERE retired_at IS NULL;
