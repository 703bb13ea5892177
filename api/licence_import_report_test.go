package api_test

import (
	"encoding/csv"
	"fmt"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// A licence import through the API whose report lists only the first
// errors says how to get them all: a dry run with problems=csv answers
// every error as CSV (nothing is stored: the rows name the file's
// holders); a refused commit says so too; a report that lists them all
// has no hint.
func TestLicenceImportListsEveryError(t *testing.T) {
	h := newLicenceHub(t, hubtest.Start(t, db.SQLite))
	p := h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{"department_id": "xy-sjj", "name": "licence-importer", "roles": []string{"importer"}}).Want(t, 201).Map(t)
	imp := h.Do(t, "POST", "/v1/principals/"+p["id"].(string)+"/keys", h.Admin, map[string]any{"name": "t"}).Want(t, 201).Map(t)["secret"].(string)
	file := func(bad int) []byte {
		var b strings.Builder
		b.WriteString("证照类型代码,证照编号,颁发机构代码,持证主体,持证主体代码类型,持证主体代码,颁发日期,有效期起始日期,有效期截止日期,属地代码,照面信息\n")
		face := `"{""gender"":""女"",""ethnicity"":""汉"",""birth_date"":""1990-01-01"",""address"":""襄阳市襄城区""}"`
		for i := range bad {
			id := newHolder()
			wrong := "X" // a check character a 身份证号 never has here
			if id[17] == 'X' {
				wrong = "0"
			}
			fmt.Fprintf(&b, "%s,RPT%05d,11420600000000027M,李梅,111,%s,2022-01-01,,,420602,%s\n", h.idType, i, id[:17]+wrong, face)
		}
		return []byte(b.String())
	}

	const n = 1050
	rep := h.Do(t, "POST", "/v1/licence-imports?filename=many.csv", imp, file(n)).Want(t, 200).Map(t)
	listed := len(rep["errors"].([]any))
	if rep["error_count"] != float64(n) || listed >= n {
		t.Fatalf("report: %v errors, %d listed; want %d, fewer listed", rep["error_count"], listed, n)
	}
	if hint, _ := rep["all_errors"].(string); !strings.Contains(hint, "problems=csv") {
		t.Fatalf("a report listing %d of %d errors does not say how to get them all: %v", listed, n, rep["all_errors"])
	}
	resp := h.Do(t, "POST", "/v1/licence-imports?filename=many.csv&problems=csv", imp, file(n)).Want(t, 200)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || resp.Header.Get("X-Error-Count") != fmt.Sprint(n) {
		t.Fatalf("problems=csv: %s, X-Error-Count %q", ct, resp.Header.Get("X-Error-Count"))
	}
	body := resp.Body
	if !strings.HasPrefix(string(body), "\ufeff") {
		t.Fatalf("problem file without a byte order mark: %.200q", body)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(body), "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 || strings.Join(recs[0], ",") != strings.Join(sheet.ProblemHeader, ",") {
		t.Fatalf("problem file: %d records (want header + %d), header %v", len(recs), n, recs[0])
	}
	rows := map[string]bool{}
	for _, r := range recs[1:] {
		if !strings.Contains(r[3], "持证主体代码") {
			t.Fatalf("problem %v does not name the column", r)
		}
		rows[r[1]] = true
	}
	for i := range n {
		if row := fmt.Sprint(i + 2); !rows[row] {
			t.Fatalf("row %s is missing from the problem file", row)
		}
	}
	// A clean file: the header alone.
	if b := h.Do(t, "POST", "/v1/licence-imports?filename=none.csv&problems=csv", imp, file(0)).Want(t, 200).Body; strings.Count(string(b), "\n") != 1 {
		t.Fatalf("problems=csv of a clean file: %q", b)
	}
	// Not with a commit; a refused commit says how to get the list.
	h.Do(t, "POST", "/v1/licence-imports?filename=many.csv&problems=csv&commit=true", imp, file(3)).Want(t, 400)
	pb := h.Do(t, "POST", "/v1/licence-imports?filename=many.csv&commit=true", imp, file(n)).Want(t, 400).Problem(t)
	if d, _ := pb["detail"].(string); !strings.Contains(d, "problems=csv") {
		t.Fatalf("commit refusal detail %q does not say how to get every error", d)
	}
	// Few errors: all listed, no hint.
	few := h.Do(t, "POST", "/v1/licence-imports?filename=few.csv", imp, file(3)).Want(t, 200).Map(t)
	if few["error_count"] != float64(3) || len(few["errors"].([]any)) != 3 || few["all_errors"] != nil {
		t.Fatalf("report of 3 errors: %v", few)
	}
	// The document says so: the report's members and problems_url.
	doc := h.Do(t, "GET", "/openapi.json", "", nil).Want(t, 200).Map(t)
	op := doc["paths"].(map[string]any)["/v1/licence-imports"].(map[string]any)["post"].(map[string]any)
	ref := op["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"].(string)
	props := doc["components"].(map[string]any)["schemas"].(map[string]any)[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)["properties"].(map[string]any)
	for _, name := range []string{"errors", "error_count", "created", "all_errors"} {
		if _, ok := props[name]; !ok {
			t.Errorf("/openapi.json: the import reply has no %s (has %v)", name, props)
		}
	}
}
