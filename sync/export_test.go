package datasync

import (
	"context"
	"time"
)

// JobLockKey is jobLockKey, for tests that hold a job as a run would.
var JobLockKey = jobLockKey

// FireTick does what the cron entry of a job with schedule spec does when
// it fires for the time at, and waits for the run it starts, if any.
func (s *Service) FireTick(jobID, spec string, at time.Time) error {
	sched, err := cronParser.Parse(spec)
	if err != nil {
		return err
	}
	sc := &scheduler{ctx: context.Background()}
	s.runTick(sc, jobID, sched, at, "schedule")
	sc.wg.Wait()
	return nil
}

// SetBeforeApplyCommit makes every run call fn in its applying
// transaction, after the records are written and before the commit.
func (s *Service) SetBeforeApplyCommit(fn func(runID string)) { s.beforeApplyCommit = fn }
