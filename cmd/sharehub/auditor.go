package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/hub"
)

const auditorUsage = `usage: sharehub auditor COMMAND [flags]

Auditors (安全审计员) read the audit log. Separation of duties (三员分立)
keeps them out of the admins' reach: the API refuses to make an auditor,
or to make, revoke or disable anything of one, for an admin. The operator
manages them here, on the hub's host; an auditor may rotate its own keys
over the API (POST /v1/principals/{id}/keys, POST /v1/keys/{id}/revoke).

  auditor key [--name NAME] [--department-id ID] [--expires 2160h]
                            make the auditor NAME if missing, and print a new key for it (once)
  auditor list              list the auditors and their keys (never secrets)
  auditor revoke KEY        revoke a key of an auditor
  auditor disable PRINCIPAL disable an auditor and all its keys
`

// cmdAuditor runs `sharehub auditor ...`.
func cmdAuditor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, auditorUsage)
		return nil
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, auditorUsage)
		return &exitError{2, errors.New("auditor: say what to do")}
	}
	sub := args[0]
	cfg := hub.Defaults()
	fs := newFlagSet("auditor "+sub, stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	name := fs.String("name", "auditor", "key: name of the auditor principal")
	deptID := fs.String("department-id", "xy-sjj", "key: department of the auditor (it must exist)")
	expires := fs.Duration("expires", 90*24*time.Hour, "key: key lifetime (0: no expiry)")
	keyName := fs.String("key-name", "cli", "key: name of the new key")
	var arg string
	var err error
	switch sub {
	case "key", "list":
		err = parse(fs, args[1:], check)
	case "revoke", "disable":
		arg, err = parseWithFile(fs, args[1:], check)
		if err != nil && err.Error() == "missing FILE" {
			what := map[string]string{"revoke": "KEY (a key id, key_...)", "disable": "PRINCIPAL (a principal id, prn_...)"}[sub]
			err = &exitError{2, fmt.Errorf("auditor %s: missing %s", sub, what)}
		}
	default:
		fmt.Fprint(stderr, auditorUsage)
		return &exitError{2, fmt.Errorf("auditor: unknown command %q", sub)}
	}
	if err == nil && *expires < 0 {
		err = &exitError{2, fmt.Errorf("--expires: want a positive duration, or 0 for a key that does not expire; got %s", *expires)}
	}
	if err != nil {
		fmt.Fprint(stderr, auditorUsage)
		return err
	}
	if sub == "list" {
		d, err := hub.OpenDB(ctx, cfg)
		if err != nil {
			return err
		}
		defer d.Close()
		ex := exchange.New(d, exchange.Config{})
		defer ex.Close()
		return auditorList(ctx, ex, stdout)
	}
	// The changes go into the audit log (operatorChange), so the hub is
	// opened whole, as bootstrap does: it needs the checkpoint key.
	start := time.Now()
	cfg.Listen = "127.0.0.1:0"
	app, err := hub.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer app.Close(context.Background())
	ex := app.Exchange
	change := operatorChange{Command: "auditor " + sub, Status: 200, Start: start}

	switch sub {
	case "key":
		return auditorKey(ctx, ex, app.Audit, change, *deptID, *name, *keyName, *expires, stdout)
	case "revoke":
		k, err := ex.Key(ctx, arg)
		if err != nil {
			return err
		}
		if _, err := auditorByID(ctx, ex, k.PrincipalID, "revoke "+arg); err != nil {
			return err
		}
		if k, err = ex.RevokeKey(ctx, k.ID); err != nil {
			return err
		}
		change.Resources = []string{"principal:" + k.PrincipalID, "api_key:" + k.ID}
		if err := change.record(ctx, app.Audit); err != nil {
			return err
		}
		// Other replicas cache keys: they refuse it within the key cache TTL.
		fmt.Fprintf(stdout, "revoked key %s (%s) of auditor %s\n", k.ID, k.Name, k.PrincipalID)
		return nil
	default: // disable
		p, err := auditorByID(ctx, ex, arg, "disable")
		if err != nil {
			return err
		}
		if p.Disabled {
			return errs.Conflict("auditor %s (%s) is already disabled", p.Name, p.ID)
		}
		if p, err = ex.DisablePrincipal(ctx, p.ID); err != nil {
			return err
		}
		change.Resources = []string{"principal:" + p.ID}
		if err := change.record(ctx, app.Audit); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "disabled auditor %s (%s) and all its keys\n", p.Name, p.ID)
		return nil
	}
}

// auditorByID returns the principal id if it is an auditor: this command
// manages auditors only; admins manage everyone else over the API.
func auditorByID(ctx context.Context, ex *exchange.Service, id, what string) (exchange.Principal, error) {
	p, err := ex.Principal(ctx, id)
	if err != nil {
		return p, err
	}
	if !p.Has(exchange.RoleAuditor) {
		return p, &exitError{2, fmt.Errorf("auditor %s: principal %s (%s) is no auditor; admins manage it over the API", what, p.Name, p.ID)}
	}
	return p, nil
}

// auditorKey makes the auditor name of department deptID when missing and
// prints a new key for it. Like bootstrap, run it again for another key.
// The key works, and is printed, only once the change is in the audit log.
func auditorKey(ctx context.Context, ex *exchange.Service, log *audit.Log, change operatorChange, deptID, name, keyName string, expires time.Duration, stdout io.Writer) error {
	if _, err := ex.Department(ctx, deptID); errs.Is(err, errs.KindNotFound) {
		return &exitError{2, fmt.Errorf("--department-id: department %s does not exist (bootstrap makes the operator's department; admins make others)", deptID)}
	} else if err != nil {
		return err
	}
	p, err := ex.PrincipalByName(ctx, deptID, name)
	if errs.Is(err, errs.KindNotFound) {
		p, err = ex.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: deptID, Name: name, Roles: []exchange.Role{exchange.RoleAuditor}})
	}
	if err != nil {
		return err
	}
	switch {
	case p.Disabled:
		return &exitError{2, fmt.Errorf("--name: principal %s (%s) of %s is disabled; pass another --name to make a new auditor", p.Name, p.ID, deptID)}
	case !p.Has(exchange.RoleAuditor):
		return &exitError{2, fmt.Errorf("--name: principal %s (%s) of %s is not an auditor; pass another --name to make a new auditor", p.Name, p.ID, deptID)}
	}
	var exp time.Time
	if expires > 0 {
		exp = time.Now().Add(expires)
	}
	k, secret, err := ex.CreateKey(ctx, p.ID, keyName, exp)
	if err != nil {
		return err
	}
	change.Status, change.Resources = 201, []string{"department:" + deptID, "principal:" + p.ID, "api_key:" + k.ID}
	if err := change.recordNewKey(ctx, log, ex, k.ID); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "auditor %s (%s) key %s:\n%s\nStore it now; the hub keeps only its hash.\n", p.Name, p.ID, k.ID, secret)
	return nil
}

func auditorList(ctx context.Context, ex *exchange.Service, stdout io.Writer) error {
	ps, err := ex.Principals(ctx, "")
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tNAME\tDEPARTMENT\tKEY\tKEY NAME\tSTATE")
	for _, p := range ps {
		if !p.Has(exchange.RoleAuditor) {
			continue
		}
		ks, err := ex.Keys(ctx, p.ID)
		if err != nil {
			return err
		}
		if len(ks) == 0 || p.Disabled {
			state := "no keys"
			if p.Disabled {
				state = "principal disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t%s\n", p.ID, p.Name, p.DepartmentID, state)
		}
		if p.Disabled {
			continue
		}
		for _, k := range ks {
			state := "active"
			switch {
			case k.RevokedAt != nil:
				state = "revoked " + k.RevokedAt.Format(time.RFC3339)
			case k.ExpiresAt != nil && !time.Now().Before(*k.ExpiresAt):
				state = "expired " + k.ExpiresAt.Format(time.RFC3339)
			case k.ExpiresAt != nil:
				state = "expires " + k.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.DepartmentID, k.ID, k.Name, state)
		}
	}
	return tw.Flush()
}
