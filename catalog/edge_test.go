package catalog_test

import (
	"context"
	"testing"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestImportCannotReclassify: a row that matches an existing item
// by provider and name may not give it another classification: the code
// (classification + sequence) would no longer describe it. Update refuses
// the same change.
func TestImportCannotReclassify(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		if rep := importFile(t, s, goodFile(t), catalog.ImportOptions{Commit: true}); !rep.Committed {
			t.Fatalf("first import: %+v", rep.Errors)
		}
		moved := goodFile(t, func(items, fields *[][]any) { (*items)[1][3] = "02" }) // 户籍人口信息: 项 01 → 02
		rep := importFile(t, s, moved, catalog.ImportOptions{Commit: true})
		if rep.OK() || rep.Committed {
			t.Fatalf("reclassifying import accepted: %+v", rep)
		}
		wantProblem(t, rep, "信息资源!C2", "cannot change")
		err := s.EachItem(ctx, catalog.Filter{}, func(it catalog.Item) error {
			if it.Code[:len(it.Classification())+1] != it.Classification()+"-" {
				t.Errorf("item %s is classified %s", it.Code, it.Classification())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestNotesWithControlCharacters: a note or withdrawal reason with
// a NUL (valid JSON: "\u0000") is cleaned like every other text, not a
// database error (500) on PostgreSQL.
func TestNotesWithControlCharacters(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		it := mustCreate(t, s, gajAdmin, content("xy-gaj", "户籍人口信息"))
		it, err := s.Publish(ctx, gajAdmin, it.Code, "首次\x00发布")
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		u := catalog.ItemUpdate{Version: it.Version, Note: "改\x00摘要", Content: it.Content}
		u.Summary = "新的摘要"
		if it, err = s.Update(ctx, gajAdmin, it.Code, u); err != nil {
			t.Fatalf("update: %v", err)
		}
		if _, err = s.Withdraw(ctx, gajAdmin, it.Code, "\x00停用\x00"); err != nil {
			t.Fatalf("withdraw: %v", err)
		}
		_, err = s.Withdraw(ctx, gajAdmin, it.Code, "\x00")
		wantKind(t, err, errs.KindInvalid)
		vs, err := s.Versions(ctx, it.Code)
		if err != nil || len(vs) != 4 || vs[1].Note != "首次发布" || vs[2].Note != "改摘要" || vs[3].Note != "停用" {
			t.Fatalf("versions %+v %v", vs, err)
		}
	})
}

// TestItemOddCode: a code PostgreSQL cannot compare (NUL, invalid
// UTF-8) is simply not found, on both engines.
func TestItemOddCode(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		for _, code := range []string{"101001-000001\x00", "\xff", ""} {
			_, err := s.Item(ctx, code)
			wantKind(t, err, errs.KindNotFound)
			_, err = s.Versions(ctx, code)
			wantKind(t, err, errs.KindNotFound)
		}
	})
}
