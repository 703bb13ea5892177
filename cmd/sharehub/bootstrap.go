package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/hub"
)

// cmdBootstrap creates the first department and admin on a new database
// (typically PostgreSQL) and prints one admin key. Run it again to get
// another admin key (for example when the first was lost).
func cmdBootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := hub.Defaults()
	fs := newFlagSet("bootstrap", stderr)
	check := allOf(migrateFlag(fs, &cfg), configFlags(fs, &cfg))
	dep := exchange.Department{Kind: "office"}
	fs.StringVar(&dep.ID, "department-id", "xy-sjj", "id of the hub operator's department")
	fs.StringVar(&dep.Code, "department-code", "", "its 统一社会信用代码 (required when the department does not exist yet)")
	fs.StringVar(&dep.Name, "department-name", "襄阳市政务服务和大数据管理局", "its name")
	name := fs.String("admin-name", "hub-admin", "name of the admin principal")
	expires := fs.Duration("expires", 90*24*time.Hour, "key lifetime (0: no expiry)")
	if err := parse(fs, args, check); err != nil {
		return err
	}
	if *expires < 0 {
		return &exitError{2, fmt.Errorf("--expires: want a positive duration, or 0 for a key that does not expire; got %s", *expires)}
	}
	start := time.Now()
	cfg.Listen = "127.0.0.1:0"
	app, err := hub.Open(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer app.Close(context.Background())
	if have, err := app.Exchange.Department(ctx, dep.ID); errs.Is(err, errs.KindNotFound) {
		if dep.Code == "" {
			return &exitError{2, fmt.Errorf("--department-code: department %s does not exist yet, so its 统一社会信用代码 is required", dep.ID)}
		}
		if _, err := app.Exchange.CreateDepartment(ctx, dep); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else if dep.Code != "" && dep.Code != have.Code {
		return &exitError{2, fmt.Errorf("--department-code: department %s exists with the code %s, not %s; check --department-id", dep.ID, have.Code, dep.Code)}
	}
	p, err := app.Exchange.PrincipalByName(ctx, dep.ID, *name)
	if errs.Is(err, errs.KindNotFound) {
		p, err = app.Exchange.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: dep.ID, Name: *name, Roles: []exchange.Role{exchange.RoleAdmin}})
	}
	if err != nil {
		return err
	}
	// A key for a principal that cannot use it, or that is no admin, is
	// not what bootstrap promises.
	switch {
	case p.Disabled:
		return &exitError{2, fmt.Errorf("--admin-name: principal %s (%s) of %s is disabled; pass another --admin-name to make a new admin", p.Name, p.ID, dep.ID)}
	case !p.Has(exchange.RoleAdmin):
		return &exitError{2, fmt.Errorf("--admin-name: principal %s (%s) of %s is not an admin; pass another --admin-name to make a new admin", p.Name, p.ID, dep.ID)}
	}
	var exp time.Time
	if *expires > 0 {
		exp = time.Now().Add(*expires)
	}
	k, secret, err := app.Exchange.CreateKey(ctx, p.ID, "bootstrap", exp)
	if err != nil {
		return err
	}
	// On the record (operatorChange): no admin made this admin.
	change := operatorChange{Command: "bootstrap", Status: 201, Start: start,
		Resources: []string{"department:" + dep.ID, "principal:" + p.ID, "api_key:" + k.ID}}
	if err := change.recordNewKey(ctx, app.Audit, app.Exchange, k.ID); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "admin %s (%s) key %s:\n%s\nStore it now; the hub keeps only its hash.\n", p.Name, p.ID, k.ID, secret)
	return nil
}
