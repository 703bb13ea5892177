package db_test

import (
	"fmt"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
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
