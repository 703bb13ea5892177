-- Daily quotas across replicas (exchange/quota.go). Each replica reserves
-- a chunk of a grant's remaining daily quota before serving calls from it:
-- reserved is the sum of the chunks replicas hold and have not yet served,
-- used stays the calls served (and flushed). A reservation succeeds only
-- while used + reserved stays within the quota, so the replicas together
-- never serve more than it.
ALTER TABLE grant_usage ADD COLUMN reserved BIGINT NOT NULL DEFAULT 0;

-- Provider lists go by the item's current provider (exchange/application.go):
-- they find applications by item code as well as by the stored provider.
CREATE INDEX share_applications_item ON share_applications(item_code, deadline);
