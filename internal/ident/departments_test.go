package ident

import (
	"encoding/csv"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDepartmentsCSV checks the demo departments of Xiangyang in
// testdata/departments.csv: every code is a valid credit code of a 机关
// (authority 1, type 1) registered in Xiangyang (division 4206xx), ids are
// unique ASCII slugs and every parent exists.
func TestDepartmentsCSV(t *testing.T) {
	f, err := os.Open("../../testdata/departments.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 5
	records, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) == 0 || !slices.Equal(records[0], []string{"id", "code", "name", "kind", "parent_id"}) {
		t.Fatalf("header = %q", records[:1])
	}
	slug := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	ids := map[string]bool{}
	codes := map[string]string{}
	kinds := map[string]int{}
	for i, rec := range records[1:] {
		id, code, name, kind, parent := rec[0], rec[1], rec[2], rec[3], rec[4]
		line := i + 2
		if !slug.MatchString(id) {
			t.Errorf("line %d: id %q is not a short ASCII slug", line, id)
		}
		if ids[id] {
			t.Errorf("line %d: duplicate id %q", line, id)
		}
		ids[id] = true
		if err := ValidateCreditCode(code); err != nil {
			t.Errorf("line %d (%s): %v", line, id, err)
		}
		if !strings.HasPrefix(code, "114206") {
			t.Errorf("line %d (%s): code %s is not a Xiangyang 机关 code (114206...)", line, id, code)
		}
		if other, dup := codes[code]; dup {
			t.Errorf("line %d: code %s also used by %s", line, code, other)
		}
		codes[code] = id
		if name == "" {
			t.Errorf("line %d: empty name", line)
		}
		kinds[kind]++
		switch kind {
		case "city":
			if parent != "" {
				t.Errorf("line %d: city with parent %q", line, parent)
			}
		case "office":
			if !strings.HasPrefix(name, "襄阳市") {
				t.Errorf("line %d: office name %q does not start with 襄阳市", line, name)
			}
		case "district", "county":
		default:
			t.Errorf("line %d: unknown kind %q", line, kind)
		}
		if kind != "city" && parent != "xy" {
			t.Errorf("line %d: parent %q, want xy", line, parent)
		}
	}
	if kinds["city"] != 1 || kinds["office"] != 24 || kinds["district"]+kinds["county"] != 12 {
		t.Errorf("kinds = %v, want 1 city, 24 offices, 12 districts and counties", kinds)
	}
	if !ids["xy"] {
		t.Error(`no row with id "xy"`)
	}
}
