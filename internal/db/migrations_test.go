package db

import (
	"fmt"
	"slices"
	"testing"
)

// Both dialects have the same migrations: same numbers, same names, so a
// schema version means the same thing on either engine.
func TestMigrationsMatchAcrossDialects(t *testing.T) {
	list := func(d Dialect) []string {
		t.Helper()
		ms, err := (&DB{Dialect: d}).Migrations()
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%04d_%s", m.Version, m.Name))
		}
		return out
	}
	lite, pg := list(SQLite), list(Postgres)
	if len(lite) < 10 {
		t.Fatalf("only %d SQLite migrations embedded", len(lite))
	}
	if !slices.Equal(lite, pg) {
		t.Fatalf("migrations differ:\nsqlite   %v\npostgres %v", lite, pg)
	}
}
