package datasync

import (
	"context"
	"errors"
	gosync "sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// scheduler runs jobs on their cron schedules in the hub's time zone. Every
// replica runs one; the job lock (a PostgreSQL advisory lock) lets only one
// of them run a given job at a time, the others skip that tick.
type scheduler struct {
	cron    *cron.Cron
	ctx     context.Context
	cancel  context.CancelFunc
	wg      gosync.WaitGroup
	entries map[string]schedEntry // by job id; under Service.schedMu
}

// schedEntry is a job's entry in the cron and the schedule it was made for.
type schedEntry struct {
	id   cron.EntryID
	spec string
}

// Start begins running scheduled jobs and resumes runs a killed process
// left unfinished. Stop ends it.
func (s *Service) Start(ctx context.Context) error {
	s.schedMu.Lock()
	defer s.schedMu.Unlock()
	if s.sched != nil {
		return nil
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sc := &scheduler{cron: cron.New(cron.WithLocation(s.loc), cron.WithParser(cronParser)), ctx: sctx, cancel: cancel,
		entries: map[string]schedEntry{}}
	s.sched = sc
	if err := s.loadSchedule(sctx, sc); err != nil {
		s.sched = nil
		cancel()
		return err
	}
	sc.cron.Start()
	ids, err := s.interrupted(sctx)
	if err != nil {
		s.log.Warn("sync: cannot list interrupted runs", "error", logText(err))
	}
	for _, id := range ids {
		s.spawn(sc, id, "resume")
	}
	return nil
}

// Stop stops the schedule and waits for running jobs to stop at their next
// page; they resume from their checkpoints on the next start.
func (s *Service) Stop() {
	s.schedMu.Lock()
	sc := s.sched
	s.sched = nil
	s.schedMu.Unlock()
	if sc == nil {
		return
	}
	<-sc.cron.Stop().Done()
	sc.cancel()
	sc.wg.Wait()
}

func (s *Service) loadSchedule(ctx context.Context, sc *scheduler) error {
	jobs, err := s.Jobs(ctx, "")
	if err != nil {
		return err
	}
	// Only the entries of jobs whose schedule changed are replaced: an
	// entry added anew counts from now, so when every change of any job
	// rebuilt them all, an "@every 6h" job never ran while some job was
	// changed every few hours (and a cron entry could lose the tick it
	// was rebuilt on).
	want := make(map[string]string, len(jobs))
	for _, j := range jobs {
		if !j.Paused && j.Spec.Schedule != "" {
			want[j.ID] = j.Spec.Schedule
		}
	}
	for id, e := range sc.entries {
		if want[id] != e.spec {
			sc.cron.Remove(e.id)
			delete(sc.entries, id)
		}
	}
	for id, spec := range want {
		if _, ok := sc.entries[id]; ok {
			continue
		}
		eid, err := sc.cron.AddFunc(spec, func() { s.spawn(sc, id, "schedule") })
		if err != nil {
			s.log.Warn("sync: bad schedule", "job", id, "error", logText(err))
			continue
		}
		sc.entries[id] = schedEntry{id: eid, spec: spec}
	}
	return nil
}

// reschedule reloads the schedule after a job changed.
func (s *Service) reschedule() {
	s.schedMu.Lock()
	defer s.schedMu.Unlock()
	if s.sched == nil {
		return
	}
	if err := s.loadSchedule(s.sched.ctx, s.sched); err != nil {
		s.log.Warn("sync: reloading the schedule failed", "error", logText(err))
	}
}

// RunInBackground starts a run of the job on the scheduler (so Stop waits
// for it) and returns at once; follow it with Runs. Errors:
// errs.Unavailable when the scheduler is not running.
func (s *Service) RunInBackground(ctx context.Context, jobID string) error {
	if _, err := s.Job(ctx, jobID); err != nil {
		return err
	}
	s.schedMu.Lock()
	sc := s.sched
	s.schedMu.Unlock()
	if sc == nil {
		return errs.Unavailable(nil, "the sync scheduler is not running here; run the job and wait instead")
	}
	s.spawn(sc, jobID, "manual")
	return nil
}

func (s *Service) spawn(sc *scheduler, jobID, cause string) {
	sc.wg.Add(1)
	go func() {
		defer sc.wg.Done()
		start := time.Now()
		run, err := s.RunJob(sc.ctx, jobID, cause, nil)
		switch {
		case errors.Is(err, ErrJobBusy):
			s.log.Debug("sync: job already running elsewhere", "job", jobID)
		case err != nil && errs.Is(err, errs.KindUnavailable) && sc.ctx.Err() != nil:
			s.log.Info("sync: run interrupted by shutdown", "job", jobID, "run", run.ID)
		case err != nil:
			s.log.Warn("sync: run failed", "job", jobID, "run", run.ID, "error", logText(err))
		default:
			s.log.Info("sync: run finished", "job", jobID, "run", run.ID, "status", run.Status, "took", time.Since(start))
		}
	}()
}
