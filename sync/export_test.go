package datasync

// JobLockKey is jobLockKey, for tests that hold a job as a run would.
var JobLockKey = jobLockKey
