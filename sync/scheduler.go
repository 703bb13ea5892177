package datasync

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	gosync "sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// scheduler runs jobs on their cron schedules in the hub's time zone. Every
// replica runs one; each tick is claimed in the database before it runs
// (tick), and the job lock (a PostgreSQL advisory lock) lets only one
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
	s.catchUp(sctx, sc, ids)
	return nil
}

// catchUp runs, once, each scheduled job whose last tick came while no
// replica ran the schedule: a monthly job whose tick fell during a
// restart waited a month (its health only showed it overdue). A tick is
// missed when it falls after the job's last run began (or, with no run,
// after the job was last changed) and before now. It is claimed like any
// tick, so replicas starting together, or one that was up and ran it, do
// not run it again. Jobs being resumed are left to that.
func (s *Service) catchUp(ctx context.Context, sc *scheduler, resumed []string) {
	jobs, err := s.Jobs(ctx, "")
	if err != nil {
		s.log.Warn("sync: cannot list jobs to catch up missed ticks", "error", logText(err))
		return
	}
	now := s.now().In(s.loc)
	for _, j := range jobs {
		if j.Paused || j.Spec.Schedule == "" || slices.Contains(resumed, j.ID) {
			continue
		}
		sched, err := cronParser.Parse(j.Spec.Schedule)
		if err != nil {
			continue
		}
		since := j.UpdatedAt
		rs, err := s.Runs(ctx, j.ID, 1)
		if err != nil {
			s.log.Warn("sync: cannot read a job's last run to catch up", "job", j.ID, "error", logText(err))
			continue
		}
		if len(rs) > 0 && rs[0].StartedAt.After(since) {
			since = rs[0].StartedAt
		}
		if missed := lastTick(sched, since.In(s.loc), now); !missed.IsZero() {
			s.log.Info("sync: catching up a scheduled run missed while the hub was down", "job", j.ID, "tick", missed)
			s.runTick(sc, j.ID, sched, missed, "catch-up")
		}
	}
}

// lastTick is the latest time sched fires after after and not after now;
// zero when there is none.
func lastTick(sched cron.Schedule, after, now time.Time) time.Time {
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		if every.Delay <= 0 || now.Sub(after) < every.Delay {
			return time.Time{}
		}
		return after.Add(now.Sub(after) / every.Delay * every.Delay)
	}
	var last time.Time
	// A minute's schedule over a year is half a million ticks: bounded all
	// the same.
	for t, n := sched.Next(after), 0; !t.IsZero() && !t.After(now) && n < 1_000_000; t, n = sched.Next(t), n+1 {
		last = t
	}
	return last
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
		sched, err := cronParser.Parse(spec)
		if err != nil {
			s.log.Warn("sync: bad schedule", "job", id, "error", logText(err))
			continue
		}
		t := &tick{s: s, sc: sc, jobID: id, sched: sched}
		t.entry = sc.cron.Schedule(sched, t)
		sc.entries[id] = schedEntry{id: t.entry, spec: spec}
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

// tick is a job's cron entry. Every replica runs the same schedule; before
// running, an entry claims its tick for the job in sync_ticks, and of the
// replicas whose clocks fire the same tick only the one that claimed it
// runs. The job lock alone keeps two runs from overlapping, not from
// following each other: with clocks a few hundred milliseconds apart, a
// short run finished on one replica before the next replica's tick
// started another.
type tick struct {
	s     *Service
	sc    *scheduler
	jobID string
	sched cron.Schedule
	entry cron.EntryID
}

func (t *tick) Run() {
	// Prev is the time the entry was scheduled for, set before it is
	// started: the same on every replica for a cron expression, whenever
	// each gets to run it.
	at := t.sc.cron.Entry(t.entry).Prev
	if at.IsZero() {
		at = time.Now().Truncate(time.Second)
	}
	t.s.runTick(t.sc, t.jobID, t.sched, at, "schedule")
}

// runTick runs job for its tick scheduled at, unless another replica has
// claimed the tick.
func (s *Service) runTick(sc *scheduler, jobID string, sched cron.Schedule, at time.Time, cause string) {
	key := at.Unix()
	// "@every" entries count from each replica's start, so they fire at
	// different times: the tick is the interval of the Unix epoch the
	// time falls in, and the job runs once in each.
	if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay >= time.Second {
		n := int64(every.Delay / time.Second)
		key = key / n * n
	}
	claimed, err := s.claimTick(sc.ctx, jobID, key)
	switch {
	case err != nil:
		s.log.Warn("sync: cannot claim the scheduled tick; skipped", "job", jobID, "tick", at, "error", logText(err))
	case !claimed:
		s.log.Debug("sync: tick run by another replica", "job", jobID, "tick", at)
	default:
		s.spawn(sc, jobID, cause)
	}
}

// claimTick records that this replica runs job's scheduled tick; claimed
// is false when another did first. Claims older than a day are dropped
// on the way: no schedule fires the same tick again.
func (s *Service) claimTick(ctx context.Context, jobID string, tick int64) (claimed bool, err error) {
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sync_ticks WHERE job_id = $1 AND tick < $2`, jobID, tick-86400); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO sync_ticks (job_id, tick) VALUES ($1, $2)`+s.db.InsertIgnore(), jobID, tick)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return err
	})
	return claimed, db.Interpret(err, "sync tick")
}

// RunInBackground starts a run of the job on the scheduler (so Stop waits
// for it) and returns at once; follow it with Runs. Errors:
// errs.Unavailable when the scheduler is not running.
func (s *Service) RunInBackground(ctx context.Context, jobID string) error {
	return s.RunInBackgroundWith(ctx, jobID, RunOptions{})
}

// RunInBackgroundWith is RunInBackground with options for the run.
func (s *Service) RunInBackgroundWith(ctx context.Context, jobID string, opt RunOptions) error {
	if _, err := s.Job(ctx, jobID); err != nil {
		return err
	}
	s.schedMu.Lock()
	sc := s.sched
	s.schedMu.Unlock()
	if sc == nil {
		return errs.Unavailable(nil, "the sync scheduler is not running here; run the job and wait instead")
	}
	s.spawnWith(sc, jobID, "manual", opt)
	return nil
}

func (s *Service) spawn(sc *scheduler, jobID, cause string) {
	s.spawnWith(sc, jobID, cause, RunOptions{})
}

func (s *Service) spawnWith(sc *scheduler, jobID, cause string, opt RunOptions) {
	sc.wg.Add(1)
	go func() {
		defer sc.wg.Done()
		start := time.Now()
		run, err := s.RunJobWith(sc.ctx, jobID, cause, opt, nil)
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
