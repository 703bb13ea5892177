package dbtest

import (
	"context"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// FailWrites makes every write of event (as both engines spell it after
// BEFORE, e.g. "UPDATE OF grant_id ON share_applications") fail with a
// database error, by a trigger named name, until the returned function is
// called: a real failure at a chosen step, for tests of what a
// transaction leaves behind.
func FailWrites(t testing.TB, d *db.DB, name, event string) func() {
	t.Helper()
	ctx := context.Background()
	create := []string{`CREATE TRIGGER ` + name + ` BEFORE ` + event + ` BEGIN SELECT RAISE(ABORT, 'boom'); END`}
	drop := []string{`DROP TRIGGER ` + name}
	if d.Dialect == db.Postgres {
		table := event[strings.LastIndex(event, " ")+1:]
		create = []string{
			`CREATE FUNCTION ` + name + `() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$`,
			`CREATE TRIGGER ` + name + ` BEFORE ` + event + ` FOR EACH ROW EXECUTE FUNCTION ` + name + `()`,
		}
		drop = []string{`DROP TRIGGER ` + name + ` ON ` + table, `DROP FUNCTION ` + name + `()`}
	}
	for _, q := range create {
		if _, err := d.W.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return func() {
		t.Helper()
		for _, q := range drop {
			if _, err := d.W.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
}
