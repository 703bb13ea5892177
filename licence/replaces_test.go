package licence_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/licence"
)

// TestReplaces checks the licence a new one replaces (关联证照标识), on
// issue and on import: it must be registered, of the same type and held by
// the same holder.
func TestReplaces(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		holder := person()
		old := mustIssue(t, f, f.idCard(holder))
		p, _ := ident.ParseLicenceID(old.ID)
		unknown, _ := ident.NewLicenceID(p.TypeCode, p.IssuerCode, "NOSUCH0001", 1)
		future, _ := ident.NewLicenceID(p.TypeCode, p.IssuerCode, p.Serial, 7)
		otherType, _ := ident.NewLicenceID(f.types["结婚证"].Code, "11420600000000035G", "M0001", 1)
		someoneElse := mustIssue(t, f, f.idCard(person()))

		t.Run("issue", func(t *testing.T) {
			for _, c := range []struct {
				name, replaces, reason string
			}{
				{"not registered", unknown, "no licence with this identifier is registered"},
				{"another type", otherType, "another type"},
				{"another holder", someoneElse.ID, "held by someone else"},
				{"a version it never had", future, "has no version 007"},
				{"a wrong check character", old.ID[:len(old.ID)-1] + map[bool]string{true: "A", false: "B"}[!strings.HasSuffix(old.ID, "A")], "check"},
			} {
				t.Run(c.name, func(t *testing.T) {
					n := f.idCard(holder)
					n.Number, n.Replaces = "", c.replaces
					_, err := f.svc.Issue(ctx, issuer("xy-gaj"), n)
					var e *errs.Error
					if !errors.As(err, &e) || e.Kind != errs.KindInvalid || len(e.Fields) != 1 || e.Fields[0].Pointer != "/replaces" ||
						!strings.Contains(e.Fields[0].Reason, c.reason) {
						t.Fatalf("error %#v, want a field error at /replaces saying %q", err, c.reason)
					}
				})
			}
			n := f.idCard(holder)
			n.Number, n.Replaces = "", " "+old.ID+" "
			l, err := f.svc.Issue(ctx, issuer("xy-gaj"), n)
			if err != nil || l.Replaces != old.ID {
				t.Fatalf("a replacement for the holder's own licence: %+v %v", l, err)
			}
			if got, _ := f.svc.Get(ctx, l.ID); got.Replaces != old.ID {
				t.Fatalf("stored replaces %q", got.Replaces)
			}
		})

		t.Run("import", func(t *testing.T) {
			face := `"{""gender"":""男"",""ethnicity"":""汉"",""birth_date"":""1980-01-02"",""address"":""湖北省襄阳市襄城区檀溪路1号""}"`
			row := func(number, holderID, replaces string) string {
				return p.TypeCode + "," + number + ",11420600000000027M,张三丰,111," + holderID + ",2020-01-01,,,420602," + face + "," + replaces + "\n"
			}
			hdr := "证照类型代码,证照编号,颁发机构代码,持证主体,持证主体代码类型,持证主体代码,颁发日期,有效期起始日期,有效期截止日期,属地代码,照面信息,关联证照标识\n"
			rows := []struct{ line, reason string }{
				{row("R1", holder, old.ID), ""},
				{row("R2", holder, ""), ""},
				{row("R3", holder, unknown), "no licence with this identifier is registered"},
				{row("R4", holder, someoneElse.ID), "held by someone else"},
				{row("R5", holder, otherType), "another type"},
				{row("R6", holder, "not-an-identifier"), "licence"},
			}
			write := func(rows ...string) string {
				path := filepath.Join(t.TempDir(), "replaces.csv")
				if err := os.WriteFile(path, []byte(hdr+strings.Join(rows, "")), 0o600); err != nil {
					t.Fatal(err)
				}
				return path
			}
			var lines []string
			for _, r := range rows {
				lines = append(lines, r.line)
			}
			rep, err := f.svc.Import(ctx, write(lines...), licence.ImportOptions{By: importer, Commit: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Committed || rep.Created != 0 {
				t.Fatalf("a file with bad rows was committed: %+v", rep)
			}
			for i, r := range rows {
				line := i + 2
				var got []string
				for _, p := range rep.Errors {
					if p.Row == line {
						got = append(got, p.Column+": "+p.Reason)
					}
				}
				switch {
				case r.reason == "" && len(got) > 0:
					t.Errorf("row %d: %v, want no error", line, got)
				case r.reason != "" && (len(got) != 1 || !strings.HasPrefix(got[0], "关联证照标识: ") || !strings.Contains(got[0], r.reason)):
					t.Errorf("row %d: %v, want one error in 关联证照标识 saying %q", line, got, r.reason)
				}
			}
			rep, err = f.svc.Import(ctx, write(rows[0].line, rows[1].line), licence.ImportOptions{By: importer, Commit: true})
			if err != nil || !rep.Committed || rep.Created != 2 {
				t.Fatalf("good rows: %+v %v", rep, err)
			}
			ls, err := f.svc.Lookup(ctx, licence.HolderIDResident, holder, p.TypeCode)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, l := range ls {
				if l.Number == "R1" {
					found = l.Replaces == old.ID
				}
			}
			if !found {
				t.Fatalf("imported replacement not stored with its link: %+v", ls)
			}
		})
	})
}

// An issuer may replace another department's licence (licences are often
// reissued elsewhere), but the check must not tell it whether that licence
// exists or who holds it: a request with other errors is not checked at
// all, and a wrong guess gets one neutral reason, the same as for a
// licence that does not exist.
func TestReplacesDoesNotRevealOthersLicences(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		idType := f.types["居民身份证"]
		idType.IssuerIDs = append(idType.IssuerIDs, "xy-mzj") // 民政局 issues them too, for this test
		if _, err := f.svc.SaveType(ctx, f.admin, idType); err != nil {
			t.Fatal(err)
		}
		holder := person()
		police := mustIssue(t, f, f.idCard(holder)) // 公安局's
		p, _ := ident.ParseLicenceID(police.ID)
		absent, _ := ident.NewLicenceID(p.TypeCode, p.IssuerCode, "NOSUCH0002", 1)
		civil := issuer("xy-mzj")
		reasons := func(n licence.NewLicence) map[string]string {
			t.Helper()
			_, err := f.svc.Issue(ctx, civil, n)
			var e *errs.Error
			if !errors.As(err, &e) || e.Kind != errs.KindInvalid {
				t.Fatalf("issue: %v, want invalid", err)
			}
			out := map[string]string{}
			for _, fe := range e.Fields {
				out[fe.Pointer] = fe.Reason
			}
			return out
		}
		// Another field wrong: the replaced licence is not looked at.
		for _, who := range []string{holder, person()} {
			n := f.idCard(who)
			n.Number, n.Replaces, n.IssuedOn = "", police.ID, "not a date"
			if r := reasons(n); r["/replaces"] != "" || r["/issued_on"] == "" {
				t.Fatalf("a request with a bad date answered %v; want only the date's error", r)
			}
		}
		// A wrong holder and an absent licence get the same reason.
		wrong := f.idCard(person())
		wrong.Number, wrong.Replaces = "", police.ID
		gone := f.idCard(holder)
		gone.Number, gone.Replaces = "", absent
		a, b := reasons(wrong)["/replaces"], reasons(gone)["/replaces"]
		if a == "" || a != b || strings.Contains(a, "someone else") {
			t.Fatalf("another department's licence, wrong holder: %q; absent licence: %q; want one neutral reason", a, b)
		}
		// The right holder: the replacement is issued.
		right := f.idCard(holder)
		right.Number, right.Replaces = "", police.ID
		if l, err := f.svc.Issue(ctx, civil, right); err != nil || l.Replaces != police.ID {
			t.Fatalf("replacing another department's licence of the same holder: %+v %v", l, err)
		}
	})
}
