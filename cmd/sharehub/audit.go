package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/keys"
)

const auditUsage = "usage: sharehub audit verify [--verifier-key KEY] [flags]"

func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, auditUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, auditUsage)
		return &exitError{2, fmt.Errorf("audit: unknown or missing subcommand; the only one is verify")}
	}
	cfg := hub.Defaults()
	fs := newFlagSet("audit verify", stderr)
	// An auditor checking the log must not need the key that decrypts
	// every seal and signing key: verify reads none.
	cfg.NoMasterKey = true
	check := configFlags(fs, &cfg)
	var vkeys multiFlag
	fs.Var(&vkeys, "verifier-key", "trusted checkpoint verifier key (name+hash+key), repeatable; default: the hub's keys read from the database")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := parse(fs, args[1:], check); err != nil {
		return err
	}
	// A mistyped --data-dir must not verify a new, empty database.
	if path, ok := strings.CutPrefix(cfg.Database, "sqlite:"); ok && path != ":memory:" {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return &exitError{2, fmt.Errorf("--database: no database at %s: check --data-dir or --database", path)}
		}
	}
	d, err := hub.OpenDBUnchecked(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if v, err := d.SchemaVersion(ctx); err != nil {
		return err
	} else if v == 0 {
		return &exitError{2, fmt.Errorf("--database: %s holds no sharehub database (never migrated)", d.URL)}
	}
	if len(vkeys) == 0 {
		// The stored keys are named by the origin: under another, no
		// checkpoint would verify, and an intact log would look tampered.
		origin, err := audit.StoredOrigin(ctx, d)
		if err != nil {
			return err
		}
		if origin != "" && origin != cfg.AuditOrigin {
			return &exitError{2, fmt.Errorf("--audit-origin: this log's checkpoints name it %q, not %q; pass --audit-origin %s", origin, cfg.AuditOrigin, origin)}
		}
		ring := &keys.Ring{DB: d}
		pubs, err := ring.Public(ctx, keys.PurposeCheckpoint)
		if err != nil {
			return err
		}
		for _, p := range pubs {
			vk, err := keys.NoteVerifierKey(cfg.AuditOrigin, p.Public)
			if err != nil {
				return err
			}
			vkeys = append(vkeys, vk)
		}
		fmt.Fprintln(stderr, "note: checking checkpoints against the keys stored in the database; pass --verifier-key with a copy you trust to rule out a replaced key")
	}
	var vs []note.Verifier
	for _, k := range vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return &exitError{2, fmt.Errorf("--verifier-key %q: %v", k, err)}
		}
		vs = append(vs, v)
	}
	start := time.Now()
	var last time.Time
	progress := func(done, total uint64) {
		if *quiet || time.Since(last) < 200*time.Millisecond && done != total {
			return
		}
		last = time.Now()
		fmt.Fprint(stderr, "\r"+bar(done, total))
		if done == total {
			fmt.Fprintln(stderr)
		}
	}
	rep, err := audit.Verify(ctx, d, note.VerifierList(vs...), progress)
	if err != nil {
		return err
	}
	if !rep.OK {
		fmt.Fprintf(stdout, "audit log does NOT verify: %s\n", rep.Problem)
		return &exitError{1, fmt.Errorf("audit log does not verify (first bad: %d)", rep.FirstBad)}
	}
	fmt.Fprintf(stdout, "audit log verifies: %d entries, %d signed checkpoints, in %s\n", rep.Entries, rep.Checkpoints, time.Since(start).Round(time.Millisecond))
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// bar draws a progress bar: [#######.............]  35% 350000/1000000
func bar(done, total uint64) string {
	const width = 30
	if total == 0 {
		return fmt.Sprintf("[%s] %d", strings.Repeat("#", width), done)
	}
	n := int(done * width / total)
	return fmt.Sprintf("[%s%s] %3d%% %d/%d", strings.Repeat("#", n), strings.Repeat(".", width-n), done*100/total, done, total)
}
