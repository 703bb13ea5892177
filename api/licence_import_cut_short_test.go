package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/licence"
)

// A committing licence import that fails partway keeps the chunks it
// committed (running the file again skips them). Its answer must say how
// many licences it did issue, and its audit entry must count them: they
// were issued by this call, sealed and live, although the call failed.
func TestLicenceImportCutShortCountsWhatItIssued(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := newLicenceHub(t, hubtest.Start(t, b))
			p := h.Do(t, "POST", "/v1/principals", h.Admin, map[string]any{"department_id": "xy-sjj", "name": "licence-importer", "roles": []string{"importer"}}).Want(t, 201).Map(t)
			imp := h.Do(t, "POST", "/v1/principals/"+p["id"].(string)+"/keys", h.Admin, map[string]any{"name": "t"}).Want(t, 201).Map(t)["secret"].(string)
			var file strings.Builder
			file.WriteString("证照类型代码,证照编号,颁发机构代码,持证主体,持证主体代码类型,持证主体代码,颁发日期,有效期起始日期,有效期截止日期,属地代码,照面信息\n")
			face := `"{""gender"":""女"",""ethnicity"":""汉"",""birth_date"":""1990-01-01"",""address"":""襄阳市襄城区""}"`
			for i := 1; i <= 3; i++ {
				fmt.Fprintf(&file, "%s,CUT%d,11420600000000027M,李梅,111,%s,2022-01-01,,,420602,%s\n", h.idType, i, newHolder(), face)
			}
			// One row a chunk, each committed on its own; the third fails.
			defer func(n int) { licence.ImportChunk = n }(licence.ImportChunk)
			licence.ImportChunk = 1
			ctx := context.Background()
			create := []string{`CREATE TRIGGER fail_cut3 BEFORE INSERT ON licences WHEN NEW.number = 'CUT3' BEGIN SELECT RAISE(ABORT, 'boom'); END`}
			drop := []string{`DROP TRIGGER fail_cut3`}
			if h.DB.Dialect == db.Postgres {
				create = []string{`CREATE FUNCTION fail_cut3() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.number = 'CUT3' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$`,
					`CREATE TRIGGER fail_cut3 BEFORE INSERT ON licences FOR EACH ROW EXECUTE FUNCTION fail_cut3()`}
				drop = []string{`DROP TRIGGER fail_cut3 ON licences`, `DROP FUNCTION fail_cut3()`}
			}
			for _, q := range create {
				if _, err := h.DB.W.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			r := h.Do(t, "POST", "/v1/licence-imports?filename=cut.csv&commit=true", imp, []byte(file.String()), "X-Request-ID: lic-import-cut")
			for _, q := range drop {
				if _, err := h.DB.W.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			var issued int
			if err := h.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM licences WHERE number LIKE 'CUT%'`).Scan(&issued); err != nil || issued != 2 {
				t.Fatalf("%d licences issued (%v); the test wants the import to stop after 2", issued, err)
			}
			if r.Status < 400 {
				t.Fatalf("an import cut short answered %d: %s", r.Status, r.Body)
			}
			if detail, _ := r.Problem(t)["detail"].(string); !strings.Contains(detail, "issuing 2 licence") {
				t.Errorf("the problem does not say that 2 licences were issued before the import stopped: %q", detail)
			}
			es := entriesFor(t, h.Hub, "lic-import-cut")
			if len(es) != 1 || es[0].Rows != 2 {
				t.Errorf("audit entry of the import (want rows 2): %+v", es)
			}
			// Running it again issues the rest and skips what is there.
			rep := h.Do(t, "POST", "/v1/licence-imports?filename=cut.csv&commit=true", imp, []byte(file.String())).Want(t, 200).Map(t)
			if rep["created"] != 1.0 || rep["unchanged"] != 2.0 {
				t.Fatalf("the import run again: %v", rep)
			}
		})
	}
}
