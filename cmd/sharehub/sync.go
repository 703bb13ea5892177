package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

const syncUsage = `usage: sharehub sync COMMAND [flags]

  sync jobs                              list jobs with their freshness and completeness
  sync create SPEC.json                  create a job from {"item_code", "name", "spec"}
  sync edit JOB --spec SPEC.json         replace a job's name and spec ({"name", "spec"})
  sync pause JOB | sync resume JOB       stop or restart a job's schedule
  sync run JOB [--quiet]                 run a job now with a progress bar (resumes an interrupted run)
       [--allow-mass-delete]             let this full refresh mark deleted more records than the job's limits allow
  sync runs JOB                          list a job's recent runs
  sync errors RUN                        print the rejected rows a run kept
`

// cmdSync runs `sharehub sync ...`.
func cmdSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, syncUsage)
		return nil
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, syncUsage)
		return &exitError{2, errors.New("sync: say what to do")}
	}
	sub := args[0]
	cfg := hub.Defaults()
	fs := newFlagSet("sync "+sub, stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	quiet := fs.Bool("quiet", false, "no progress bar")
	asJSON := fs.Bool("json", false, "print JSON")
	specFile := fs.String("spec", "", "edit: the JSON file with the job's new name and spec")
	massDelete := fs.Bool("allow-mass-delete", false, "run: let this full refresh mark deleted more records than limits.max_delete_percent and limits.delete_allowance allow (an upstream that really dropped them)")
	var arg string
	var err error
	switch sub {
	case "run", "runs", "errors", "create", "edit", "pause", "resume":
		arg, err = parseWithFile(fs, args[1:], check)
	case "jobs":
		err = parse(fs, args[1:], check)
	default:
		fmt.Fprint(stderr, syncUsage)
		return &exitError{2, fmt.Errorf("sync: unknown command %q", sub)}
	}
	if err == nil && sub == "edit" && *specFile == "" {
		err = &exitError{2, errors.New("sync edit: --spec SPEC.json is needed")}
	}
	if err != nil {
		fmt.Fprint(stderr, syncUsage)
		return err
	}
	d, err := hub.OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	var secrets datasync.Secrets
	if m, err := hub.LoadMaster(cfg); err == nil {
		secrets = m // upstream credentials are sealed with the master key
	}
	svc := datasync.New(d, catalog.New(d, catalog.Config{}), datasync.Config{Secrets: secrets})
	out := func(v any) error {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	by := cliAdmin()
	switch sub {
	case "create", "edit":
		file := arg
		if sub == "edit" {
			file = *specFile
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return &exitError{2, fmt.Errorf("sync %s: %w", sub, err)}
		}
		var j datasync.Job
		if sub == "create" {
			var nj datasync.NewJob
			if err := json.Unmarshal(b, &nj); err != nil {
				return &exitError{2, fmt.Errorf("%s: %w", file, err)}
			}
			j, err = svc.CreateJob(ctx, by, nj)
		} else {
			var u datasync.JobUpdate
			if err := json.Unmarshal(b, &u); err != nil {
				return &exitError{2, fmt.Errorf("%s: %w", file, err)}
			}
			j, err = svc.UpdateJob(ctx, by, arg, u)
		}
		if err != nil {
			return err
		}
		j.Spec = j.Spec.Redacted()
		return out(j)
	case "pause", "resume":
		j, err := svc.SetPaused(ctx, by, arg, sub == "pause")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "job %s paused: %v\n", j.ID, j.Paused)
		return nil
	case "jobs":
		hs, err := svc.Health(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return out(hs)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB\tITEM\tCYCLE\tLAST SUCCESS\tOVERDUE\tRECORDS\tCOMPLETENESS")
		for _, h := range hs {
			last := "never"
			if h.LastSuccess != nil {
				last = h.LastSuccess.Local().Format(time.DateTime)
			}
			comp := "-"
			if h.Completeness >= 0 {
				comp = fmt.Sprintf("%.1f%%", h.Completeness*100)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%d\t%s\n", h.JobID, h.ItemCode, h.UpdateCycle, last, h.Overdue, h.Records, comp)
		}
		return tw.Flush()
	case "runs":
		rs, err := svc.Runs(ctx, arg, 20)
		if err != nil {
			return err
		}
		if *asJSON {
			return out(rs)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tSTARTED\tSTATUS\tREAD\tINSERTED\tUPDATED\tUNCHANGED\tDELETED\tREJECTED\tERROR")
		for _, r := range rs {
			c := r.Counts
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.StartedAt.Local().Format(time.DateTime), r.Status,
				c.Read, c.Inserted, c.Updated, c.Unchanged, c.Deleted, c.Rejected, r.Error)
		}
		return tw.Flush()
	case "errors":
		es, err := svc.RunErrors(ctx, arg)
		if err != nil {
			return err
		}
		if *asJSON {
			return out(es)
		}
		for _, e := range es {
			fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\n", e.Seq, e.Position, e.Key, e.Reason)
		}
		return nil
	}
	// run
	start := time.Now()
	last := time.Time{}
	progress := func(p datasync.Progress) {
		if *quiet || time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		if p.Total > 0 {
			fmt.Fprintf(stderr, "\rreading %s", bar(uint64(p.Run.Counts.Read), uint64(p.Total)))
		} else {
			fmt.Fprintf(stderr, "\rreading: %d rows, %d rejected", p.Run.Counts.Read, p.Run.Counts.Rejected)
		}
	}
	run, err := svc.RunJobWith(ctx, arg, "manual", datasync.RunOptions{AllowMassDelete: *massDelete}, progress)
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		if err := out(run); err != nil {
			return err
		}
	} else {
		c := run.Counts
		fmt.Fprintf(stdout, "run %s %s in %s: read %d, inserted %d, updated %d, unchanged %d, deleted %d, rejected %d\n",
			run.ID, run.Status, time.Since(start).Round(time.Millisecond), c.Read, c.Inserted, c.Updated, c.Unchanged, c.Deleted, c.Rejected)
		if run.Drift != nil {
			fmt.Fprintf(stdout, "schema drift: new fields %v, missing fields %v\n", run.Drift.New, run.Drift.Missing)
		}
		if run.Error != "" {
			fmt.Fprintf(stdout, "error: %s\n", run.Error)
		}
		if c.Rejected > 0 {
			fmt.Fprintf(stdout, "see the rejected rows with: sharehub sync errors %s\n", run.ID)
		}
	}
	if run.Status == datasync.StatusFailed {
		return &exitError{1, fmt.Errorf("run %s failed", run.ID)}
	}
	return nil
}
