package main

import (
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// The import progress bar: one redrawn line per phase, throttled, always
// drawn at the end of a phase, silent under --quiet.
func TestSheetProgress(t *testing.T) {
	var out strings.Builder
	p := sheetProgress(&out, false)
	p(sheet.Progress{Phase: "check", Sheet: "电子证照", Done: 0, Total: 1000})
	for done := 1; done < 1000; done++ {
		p(sheet.Progress{Phase: "check", Sheet: "电子证照", Done: done, Total: 1000})
	}
	p(sheet.Progress{Phase: "check", Sheet: "电子证照", Done: 1000, Total: 1000})
	p(sheet.Progress{Phase: "commit", Sheet: "电子证照", Done: 1000, Total: 1000})
	got := out.String()
	draws := strings.Split(got, "\r")[1:]
	if len(draws) < 3 || len(draws) > 10 {
		t.Fatalf("%d draws for 1,002 updates within a moment, want the first, the ends of phases and few more: %q", len(draws), got)
	}
	last := draws[len(draws)-1]
	if !strings.HasPrefix(last, "commit ") || !strings.Contains(last, "100% 1000/1000") || !strings.Contains(last, "rows/s") {
		t.Errorf("last draw %q: want the commit phase complete with its rate", last)
	}
	if !strings.Contains(got, "check   ["+strings.Repeat("#", 30)+"] 100% 1000/1000") {
		t.Errorf("the check phase's end was not drawn: %q", got)
	}
	// A sheet of unknown length shows a count instead of a bar.
	out.Reset()
	sheetProgress(&out, false)(sheet.Progress{Phase: "read", Sheet: "电子证照", Done: 42})
	if !strings.Contains(out.String(), "read    电子证照: 42 rows") {
		t.Errorf("unknown total: %q", out.String())
	}
	out.Reset()
	q := sheetProgress(&out, true)
	q(sheet.Progress{Phase: "check", Done: 1000, Total: 1000})
	if out.Len() != 0 {
		t.Errorf("--quiet drew %q", out.String())
	}
}
