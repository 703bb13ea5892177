-- One row per scheduled tick of a job that a replica claimed before
-- running it (sync/scheduler.go). The job lock only keeps two runs from
-- overlapping: replicas whose clocks differ by a few hundred milliseconds
-- each fired the same tick, and a short run had finished on one before
-- the next started another. tick is the scheduled time in unix seconds
-- (for "@every" schedules, the start of the interval it falls in).
CREATE TABLE sync_ticks (
	job_id TEXT NOT NULL,
	tick   BIGINT NOT NULL,
	PRIMARY KEY (job_id, tick)
);
