package db_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

func TestWhere(t *testing.T) {
	var w db.Where
	if w.SQL() != "" || w.Next() != 1 {
		t.Fatalf("empty Where = %q, next %d", w.SQL(), w.Next())
	}
	w.Add("a = ?", 1)
	w.Raw("b IS NULL")
	w.Add("c > ?", "x")
	if got, want := w.SQL(), " WHERE a = $1 AND b IS NULL AND c > $2"; got != want {
		t.Fatalf("SQL() = %q, want %q", got, want)
	}
	if fmt.Sprint(w.Args) != "[1 x]" || w.Next() != 3 {
		t.Fatalf("Args %v, Next %d", w.Args, w.Next())
	}
}

func TestCollect(t *testing.T) {
	d := dbtest.Open(t, db.SQLite)
	ctx := context.Background()
	scan := func(sc db.Scanner) (int, error) {
		var n int
		err := sc.Scan(&n)
		return n, err
	}
	rows, err := d.R.QueryContext(ctx, "SELECT 1 UNION ALL SELECT 2")
	got, err := db.Collect(rows, err, "numbers", scan)
	if err != nil || fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("Collect = %v, %v", got, err)
	}
	rows, err = d.R.QueryContext(ctx, "SELECT 1 WHERE 0")
	got, err = db.Collect(rows, err, "numbers", scan)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Collect of no rows = %#v, %v; want an empty non-nil slice", got, err)
	}
	rows, err = d.R.QueryContext(ctx, "SELECT nope FROM nowhere")
	if _, err = db.Collect(rows, err, "numbers", scan); err == nil {
		t.Fatal("Collect of a bad query succeeded")
	}
}
