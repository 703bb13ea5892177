package catalog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

func TestCreateAssignsCodes(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		a := mustCreate(t, s, gajAdmin, content("xy-gaj", "人口基本信息"))
		b := mustCreate(t, s, gajAdmin, content("xy-gaj", "户籍迁移信息"))
		c2 := content("xy-gaj", "居民身份证信息")
		c2.Ximu = "01"
		c := mustCreate(t, s, gajAdmin, c2)
		if a.Code != "101001-000001" || b.Code != "101001-000002" || c.Code != "10100101-000001" {
			t.Fatalf("codes %s %s %s", a.Code, b.Code, c.Code)
		}
		if a.Status != catalog.StatusDraft || a.Version != 1 || a.ProviderName != "襄阳市公安局" || len(a.Fields) != 2 {
			t.Fatalf("created item %+v", a)
		}
		// A given code must fit the classification.
		_, err := s.Create(context.Background(), admin, catalog.NewItem{Code: "202002-000001", Content: content("xy-gaj", "另一项")})
		wantField(t, err, "/code")
		given, err := s.Create(context.Background(), admin, catalog.NewItem{Code: "101001-000100", Content: content("xy-gaj", "指定代码")})
		if err != nil || given.Code != "101001-000100" {
			t.Fatalf("given code: %v %+v", err, given)
		}
		if n := mustCreate(t, s, admin, content("xy-gaj", "再一项")); n.Code != "101001-000101" {
			t.Fatalf("next code after a given one: %s", n.Code)
		}
		// Same name from the same provider: conflict. Same name elsewhere: fine.
		_, err = s.Create(context.Background(), admin, catalog.NewItem{Content: content("xy-gaj", "人口基本信息")})
		wantKind(t, err, errs.KindConflict)
		mustCreate(t, s, mzjAdmin, content("xy-mzj", "人口基本信息"))
	})
}

func TestCreateValidation(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		for _, tc := range []struct {
			name    string
			edit    func(c *catalog.Content)
			pointer string
		}{
			{"no name", func(c *catalog.Content) { c.Name = "  " }, "/name"},
			{"conditional without legal basis", func(c *catalog.Content) {
				c.ShareType = catalog.ShareConditional
				c.ShareCondition = "仅限婚姻登记"
			}, "/legal_basis"},
			{"conditional without condition", func(c *catalog.Content) {
				c.ShareType = catalog.ShareConditional
				c.LegalBasis = "《婚姻登记条例》"
			}, "/share_condition"},
			{"not shared without legal basis", func(c *catalog.Content) { c.ShareType = catalog.ShareNone }, "/legal_basis"},
			{"unknown share type", func(c *catalog.Content) { c.ShareType = "随便共享" }, "/share_type"},
			{"unknown format", func(c *catalog.Content) { c.Format = "纸质" }, "/format"},
			{"xiang as a number", func(c *catalog.Content) { c.Xiang = "1" }, "/xiang"},
			{"unknown department", func(c *catalog.Content) { c.ProviderID = "xy-nope" }, "/provider_id"},
			{"unknown library", func(c *catalog.Content) { c.Libraries = []string{"base-nope"} }, "/libraries/0"},
			{"unknown related code", func(c *catalog.Content) { c.Related = []string{"101001-999999"} }, "/related/0"},
			{"bad related code", func(c *catalog.Content) { c.Related = []string{"abc"} }, "/related/0"},
			{"duplicate field code", func(c *catalog.Content) { c.Fields[1].Code = "xm" }, "/fields/1/code"},
			{"bad field type", func(c *catalog.Content) { c.Fields[0].DataType = "文本" }, "/fields/0/data_type"},
			{"bad date", func(c *catalog.Content) { c.PublishDate = "2024-02-30" }, "/publish_date"},
			{"huge summary", func(c *catalog.Content) { c.Summary = strings.Repeat("长", 10<<20/3) }, "/summary"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := content("xy-gaj", "校验用例")
				tc.edit(&c)
				_, err := s.Create(ctx, admin, catalog.NewItem{Content: c})
				wantField(t, err, tc.pointer)
			})
		}
		if items, _, _ := s.Items(ctx, catalog.Filter{}); len(items) != 0 {
			t.Fatalf("invalid creates wrote %d items", len(items))
		}
		// Full-width characters and stray spaces are normalised.
		c := content("xy-gaj", "  ＧＤＰ　统计信息 ")
		it := mustCreate(t, s, admin, c)
		if it.Name != "GDP 统计信息" {
			t.Fatalf("normalised name %q", it.Name)
		}
	})
}

func TestPermissions(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		_, err := s.Create(ctx, mzjAdmin, catalog.NewItem{Content: content("xy-gaj", "人口基本信息")})
		wantKind(t, err, errs.KindForbidden)
		_, err = s.Create(ctx, mzjApp, catalog.NewItem{Content: content("xy-mzj", "婚姻登记信息")})
		wantKind(t, err, errs.KindForbidden)
		_, err = s.Create(ctx, importer, catalog.NewItem{Content: content("xy-gaj", "人口基本信息")})
		wantKind(t, err, errs.KindForbidden)
		_, err = s.Create(ctx, nil, catalog.NewItem{Content: content("xy-gaj", "人口基本信息")})
		wantKind(t, err, errs.KindForbidden)
		it := mustCreate(t, s, gajAdmin, content("xy-gaj", "人口基本信息"))

		upd := catalog.ItemUpdate{Version: 1, Content: it.Content}
		upd.Summary = "改"
		_, err = s.Update(ctx, mzjAdmin, it.Code, upd)
		wantKind(t, err, errs.KindForbidden)
		_, err = s.Publish(ctx, mzjAdmin, it.Code, "")
		wantKind(t, err, errs.KindForbidden)
		// Moving an item to another department needs rights over both.
		moved := upd
		moved.ProviderID = "xy-mzj"
		_, err = s.Update(ctx, gajAdmin, it.Code, moved)
		wantKind(t, err, errs.KindForbidden)
		if _, err := s.Publish(ctx, gajAdmin, it.Code, ""); err != nil {
			t.Fatal(err)
		}
		_, err = s.Withdraw(ctx, mzjAdmin, it.Code, "不再提供")
		wantKind(t, err, errs.KindForbidden)
		if _, err := s.Withdraw(ctx, admin, it.Code, "不再提供"); err != nil {
			t.Fatal(err)
		}
		if !catalog.CanChange(admin, "anything") || catalog.CanChange(mzjApp, "xy-mzj") || !catalog.CanChange(mzjAdmin, "xy-mzj") {
			t.Fatal("CanChange")
		}
	})
}

func TestVersionsAndDiff(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		it := mustCreate(t, s, gajAdmin, content("xy-gaj", "人口基本信息"))
		upd := catalog.ItemUpdate{Version: 1, Note: "补充共享条件", Content: it.Content}
		upd.ShareType, upd.ShareCondition, upd.LegalBasis = catalog.ShareConditional, "仅限办理户籍业务", "《户口登记条例》"
		upd.Fields = append(upd.Fields, catalog.Field{Name: "出生日期", Code: "csrq", DataType: "日期型"})
		upd.Fields[0].Length = 100
		it2, err := s.Update(ctx, gajAdmin, it.Code, upd)
		if err != nil {
			t.Fatal(err)
		}
		if it2.Version != 2 || it2.ShareType != catalog.ShareConditional || len(it2.Fields) != 3 {
			t.Fatalf("updated %+v", it2)
		}
		// Stale version: conflict, nothing written.
		_, err = s.Update(ctx, gajAdmin, it.Code, upd)
		wantKind(t, err, errs.KindConflict)
		// No change: no version.
		same := catalog.ItemUpdate{Version: 2, Content: it2.Content}
		if it3, err := s.Update(ctx, gajAdmin, it.Code, same); err != nil || it3.Version != 2 {
			t.Fatalf("no-op update: %v, version %d", err, it3.Version)
		}
		// Classification cannot change.
		cls := catalog.ItemUpdate{Version: 2, Content: it2.Content}
		cls.Mu = "002"
		_, err = s.Update(ctx, gajAdmin, it.Code, cls)
		wantField(t, err, "/lei")

		if _, err := s.Publish(ctx, gajAdmin, it.Code, "首次发布"); err != nil {
			t.Fatal(err)
		}
		_, err = s.Publish(ctx, gajAdmin, it.Code, "")
		wantKind(t, err, errs.KindConflict)
		_, err = s.Withdraw(ctx, gajAdmin, it.Code, " ")
		wantField(t, err, "/reason")
		w, err := s.Withdraw(ctx, gajAdmin, it.Code, "数据源停用")
		if err != nil || w.Status != catalog.StatusWithdrawn || w.Version != 4 {
			t.Fatalf("withdraw: %v %+v", err, w)
		}
		_, err = s.Withdraw(ctx, gajAdmin, it.Code, "again")
		wantKind(t, err, errs.KindConflict)

		vs, err := s.Versions(ctx, it.Code)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, v := range vs {
			actions = append(actions, v.Action)
		}
		if strings.Join(actions, ",") != "create,update,publish,withdraw" {
			t.Fatalf("actions %v", actions)
		}
		if vs[1].By != gajAdmin.ID || vs[1].Note != "补充共享条件" {
			t.Fatalf("version 2 %+v", vs[1])
		}
		got := map[string]catalog.Change{}
		for _, c := range vs[1].Changes {
			got[c.Field] = c
		}
		for _, f := range []string{"share_type", "share_condition", "legal_basis", "fields/csrq", "fields/xm"} {
			if _, ok := got[f]; !ok {
				t.Errorf("version 2 changes lack %s: %+v", f, vs[1].Changes)
			}
		}
		if c := got["share_type"]; c.Old != catalog.ShareUnconditional || c.New != catalog.ShareConditional {
			t.Errorf("share_type change %+v", c)
		}
		if len(got) != 5 {
			t.Errorf("version 2 has %d changes, want 5: %+v", len(got), vs[1].Changes)
		}
		dd, err := s.Diff(ctx, it.Code, 1, 4)
		if err != nil {
			t.Fatal(err)
		}
		last := dd[len(dd)-1]
		if last.Field != "status" || last.Old != "draft" || last.New != "withdrawn" || len(dd) != 6 {
			t.Fatalf("diff 1→4: %+v", dd)
		}
		v1, err := s.VersionOf(ctx, it.Code, 1)
		if err != nil || v1.Item.ShareType != catalog.ShareUnconditional {
			t.Fatalf("version 1: %v %+v", err, v1)
		}
		_, err = s.Diff(ctx, it.Code, 1, 9)
		wantKind(t, err, errs.KindNotFound)
		_, err = s.Versions(ctx, "101001-999999")
		wantKind(t, err, errs.KindNotFound)
	})
}

func TestListFiltersAndTree(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		for i, name := range []string{"人口基本信息", "户籍迁移信息", "居民身份证信息", "暂住登记信息", "出入境证件信息"} {
			c := content("xy-gaj", name)
			if i%2 == 1 {
				c.Libraries = []string{"base-population", "theme-civil-affairs"}
				c.UpdateCycle = "每月"
			}
			it := mustCreate(t, s, admin, c)
			if i < 3 {
				mustPublish(t, s, it.Code)
			}
		}
		m := content("xy-mzj", "婚姻登记信息")
		m.Libraries = []string{"theme-civil-affairs"}
		m.Format = "接口"
		mustPublish(t, s, mustCreate(t, s, admin, m).Code)

		count := func(f catalog.Filter) int {
			t.Helper()
			items, _, err := s.Items(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return len(items)
		}
		for _, tc := range []struct {
			f    catalog.Filter
			want int
		}{
			{catalog.Filter{}, 6},
			{catalog.Filter{Library: "theme-civil-affairs"}, 3},
			{catalog.Filter{Department: "xy-mzj"}, 1},
			{catalog.Filter{Status: catalog.StatusPublished}, 4},
			{catalog.Filter{Status: catalog.StatusDraft}, 2},
			{catalog.Filter{UpdateCycle: "每月"}, 2},
			{catalog.Filter{Format: "接口"}, 1},
			{catalog.Filter{ShareType: catalog.ShareNone}, 0},
			{catalog.Filter{Library: "base-population", Status: catalog.StatusPublished}, 3},
		} {
			if got := count(tc.f); got != tc.want {
				t.Errorf("filter %+v: %d items, want %d", tc.f, got, tc.want)
			}
		}
		// Cursor pagination visits every item once, in code order.
		var seen []string
		f := catalog.Filter{Limit: 2}
		for {
			items, next, err := s.Items(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				seen = append(seen, it.Code)
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
		if len(seen) != 6 || seen[0] >= seen[5] {
			t.Fatalf("pages gave %v", seen)
		}
		tree, err := s.Tree(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(tree) != 3 || len(tree[0].Children) != 6 || len(tree[1].Children) != 12 {
			t.Fatalf("tree groups %+v", tree)
		}
		if tree[0].Children[0].ID != "base-population" || tree[0].Children[0].Items != 3 {
			t.Errorf("人口基础库 node %+v", tree[0].Children[0])
		}
		civil := tree[1].Children[6]
		if civil.ID != "theme-civil-affairs" || civil.Items != 2 {
			t.Errorf("民政服务主题库 node %+v", civil)
		}
		if root := tree[2].Children[0]; root.ID != "xy" || root.Items != 4 {
			t.Errorf("department root %+v", root)
		}
	})
}
