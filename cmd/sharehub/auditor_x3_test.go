package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

var auditorKeyRE = regexp.MustCompile(`auditor (\S+) \((prn_\S+)\) key (key_\S+):\n(shk_\S+)\n`)

// TestAuditorCLI: admins cannot make auditors or their keys over the API
// (三员分立), so the operator does, with `sharehub auditor`: key makes the
// auditor once and prints a new key on each run, list shows them, revoke
// and disable end them. It touches auditors only.
func TestAuditorCLI(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	base := []string{"--data-dir", dir, "--log-level", "error"}
	code := ident.NewCreditCode('1', '1', "420600", 434343)
	if c, _, errOut := cli(t, ctx, append([]string{"bootstrap", "--department-code", code}, base...)...); c != 0 {
		t.Fatalf("bootstrap: exit %d: %s", c, errOut)
	}
	c, out1, errOut := cli(t, ctx, append([]string{"auditor", "key"}, base...)...)
	if c != 0 {
		t.Fatalf("auditor key: exit %d: %s", c, errOut)
	}
	m1 := auditorKeyRE.FindStringSubmatch(out1)
	if m1 == nil || m1[1] != "auditor" || !strings.Contains(out1, "Store it now") {
		t.Fatalf("auditor key printed %q", out1)
	}
	c, out2, errOut := cli(t, ctx, append([]string{"auditor", "key", "--expires", "0", "--key-name", "second"}, base...)...)
	m2 := auditorKeyRE.FindStringSubmatch(out2)
	if c != 0 || m2 == nil || m2[2] != m1[2] || m2[3] == m1[3] || m2[4] == m1[4] {
		t.Fatalf("second auditor key: exit %d %q %s; want a new key for the same principal", c, out2, errOut)
	}

	d, err := db.Open(ctx, "sqlite:"+filepath.Join(dir, "sharehub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ex := exchange.New(d, exchange.Config{})
	defer ex.Close()
	for _, m := range [][]string{m1, m2} {
		p, keyID, err := ex.Authenticate(ctx, m[4])
		if err != nil || p.ID != m1[2] || keyID != m[3] || !p.Has(exchange.RoleAuditor) || len(p.Roles) != 1 || p.DepartmentID != "xy-sjj" {
			t.Fatalf("auditor key %s: %+v %s %v", m[3], p, keyID, err)
		}
	}
	if k, err := ex.Key(ctx, m1[3]); err != nil || k.ExpiresAt == nil || time.Until(*k.ExpiresAt) < 89*24*time.Hour {
		t.Errorf("first key expires at %v (%v); want in 90 days", k.ExpiresAt, err)
	}
	if k, err := ex.Key(ctx, m2[3]); err != nil || k.ExpiresAt != nil || k.Name != "second" {
		t.Errorf("second key %+v (%v); want named second, no expiry", k, err)
	}

	c, list, errOut := cli(t, ctx, append([]string{"auditor", "list"}, base...)...)
	if c != 0 || !strings.Contains(list, m1[2]) || !strings.Contains(list, m1[3]) || !strings.Contains(list, m2[3]) || strings.Contains(list, "hub-admin") || strings.Contains(list, "shk_") {
		t.Errorf("auditor list: exit %d %q %s; want both keys of the auditor, no admin, no secrets", c, list, errOut)
	}

	// Revoke: an auditor's key, not anyone else's.
	admin, err := ex.PrincipalByName(ctx, "xy-sjj", "hub-admin")
	if err != nil {
		t.Fatal(err)
	}
	adminKeys, err := ex.Keys(ctx, admin.ID)
	if err != nil || len(adminKeys) != 1 {
		t.Fatal(adminKeys, err)
	}
	if c, _, errOut := cli(t, ctx, append([]string{"auditor", "revoke", adminKeys[0].ID}, base...)...); c != 2 || !strings.Contains(errOut, "is no auditor") {
		t.Errorf("auditor revoke of the admin's key: exit %d %s", c, errOut)
	}
	if c, _, errOut := cli(t, ctx, append([]string{"auditor", "revoke", "key_missing"}, base...)...); c != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("auditor revoke of a missing key: exit %d %s", c, errOut)
	}
	if c, _, errOut := cli(t, ctx, append([]string{"auditor", "revoke"}, base...)...); c != 2 || !strings.Contains(errOut, "missing KEY") {
		t.Errorf("auditor revoke without a key: exit %d %s", c, errOut)
	}
	if c, out, errOut := cli(t, ctx, append([]string{"auditor", "revoke", m1[3]}, base...)...); c != 0 || !strings.Contains(out, "revoked key "+m1[3]) {
		t.Fatalf("auditor revoke: exit %d %q %s", c, out, errOut)
	}
	// A new service: ex has the key in its cache, as another replica would
	// for up to the key cache TTL.
	if _, _, err := freshEx(t, d).Authenticate(ctx, m1[4]); !errs.Is(err, errs.KindUnauthenticated) {
		t.Errorf("revoked auditor key authenticates: %v", err)
	}
	if k, err := ex.Key(ctx, adminKeys[0].ID); err != nil || k.RevokedAt != nil {
		t.Errorf("admin key after the refused revoke: %+v %v", k, err)
	}

	// key refuses a name that is no auditor, or a department not there.
	if c, _, errOut := cli(t, ctx, append([]string{"auditor", "key", "--name", "hub-admin"}, base...)...); c != 2 || !strings.Contains(errOut, "is not an auditor") {
		t.Errorf("auditor key for the admin: exit %d %s", c, errOut)
	}
	if c, _, errOut := cli(t, ctx, append([]string{"auditor", "key", "--department-id", "no-such"}, base...)...); c != 2 || !strings.Contains(errOut, "department no-such does not exist") {
		t.Errorf("auditor key in a missing department: exit %d %s", c, errOut)
	}
	if c, _, errOut := cli(t, ctx, append([]string{"auditor", "key", "--expires", "-1h"}, base...)...); c != 2 || !strings.Contains(errOut, "--expires") {
		t.Errorf("auditor key --expires -1h: exit %d %s", c, errOut)
	}

	// Disable: an auditor, not the admin; a disabled auditor gets no key.
	if c, _, errOut := cli(t, ctx, append([]string{"auditor", "disable", admin.ID}, base...)...); c != 2 || !strings.Contains(errOut, "is no auditor") {
		t.Errorf("auditor disable of the admin: exit %d %s", c, errOut)
	}
	if c, out, errOut := cli(t, ctx, append([]string{"auditor", "disable", m1[2]}, base...)...); c != 0 || !strings.Contains(out, "disabled auditor") {
		t.Fatalf("auditor disable: exit %d %q %s", c, out, errOut)
	}
	if _, _, err := freshEx(t, d).Authenticate(ctx, m2[4]); !errs.Is(err, errs.KindUnauthenticated) {
		t.Errorf("key of a disabled auditor authenticates: %v", err)
	}
	if c, _, errOut := cli(t, ctx, append([]string{"auditor", "disable", m1[2]}, base...)...); c != 1 || !strings.Contains(errOut, "already disabled") {
		t.Errorf("auditor disable twice: exit %d %s", c, errOut)
	}
	if c, _, errOut := cli(t, ctx, append([]string{"auditor", "key"}, base...)...); c != 2 || !strings.Contains(errOut, "is disabled") {
		t.Errorf("auditor key for a disabled auditor: exit %d %s", c, errOut)
	}
	if c, _, errOut := cli(t, ctx, append([]string{"auditor", "key", "--name", "auditor-2"}, base...)...); c != 0 {
		t.Errorf("auditor key with a new name: exit %d %s", c, errOut)
	}
	if c, _, errOut := cli(t, ctx, "auditor", "rotate"); c != 2 || !strings.Contains(errOut, `unknown command "rotate"`) {
		t.Errorf("auditor rotate: exit %d %s", c, errOut)
	}

	// Every change made here is in the audit log, as an API call would be,
	// and only the changes (not list, not the refusals); the log verifies.
	rows, err := d.R.QueryContext(ctx, `SELECT principal_id, method, route, resources, status FROM audit_entries WHERE method = 'CLI' ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var prn, method, route, res string
		var status int
		if err := rows.Scan(&prn, &method, &route, &res, &status); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(prn, "cli:") || len(prn) == len("cli:") {
			t.Errorf("entry for %s by %q, want cli:USER", route, prn)
		}
		got = append(got, fmt.Sprintf("%s %d %s", route, status, strings.ReplaceAll(res, "\n", " ")))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"sharehub bootstrap 201 department:xy-sjj principal:" + admin.ID + " api_key:" + adminKeys[0].ID,
		"sharehub auditor key 201 department:xy-sjj principal:" + m1[2] + " api_key:" + m1[3],
		"sharehub auditor key 201 department:xy-sjj principal:" + m1[2] + " api_key:" + m2[3],
		"sharehub auditor revoke 200 principal:" + m1[2] + " api_key:" + m1[3],
		"sharehub auditor disable 200 principal:" + m1[2],
	}
	if len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) || !strings.HasPrefix(got[len(want)], "sharehub auditor key 201 department:xy-sjj principal:") {
		t.Errorf("CLI entries in the audit log:\n%s\nwant\n%s\nand the key of auditor-2", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c, out, errOut := cli(t, ctx, append([]string{"audit", "verify", "--quiet"}, base...)...); c != 0 {
		t.Errorf("audit verify after the CLI's changes: exit %d %s %s", c, out, errOut)
	}
}

func freshEx(t *testing.T, d *db.DB) *exchange.Service {
	ex := exchange.New(d, exchange.Config{})
	t.Cleanup(func() { ex.Close() })
	return ex
}
