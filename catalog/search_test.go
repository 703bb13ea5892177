package catalog_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// searchFixture makes published items whose names, fields and summaries
// exercise the search rules, and returns name → code.
func searchFixture(t *testing.T, s *catalog.Service) map[string]string {
	t.Helper()
	codes := map[string]string{}
	add := func(provider, name, summary string, fields ...catalog.Field) {
		c := content(provider, name)
		c.Summary = summary
		if fields != nil {
			c.Fields = fields
		}
		it := mustCreate(t, s, admin, c)
		mustPublish(t, s, it.Code)
		codes[name] = it.Code
	}
	f := func(name, code string) catalog.Field {
		return catalog.Field{Name: name, Code: code, DataType: "字符型"}
	}
	add("xy-bdcdjzx", "不动产登记信息", "全市不动产权属登记结果。", f("不动产单元号", "bdcdyh"), f("权利人", "qlr"))
	add("xy-bdcdjzx", "不动产", "不动产总表。", f("单元号", "dyh"))
	add("xy-bdcdjzx", "抵押登记信息", "房屋抵押情况，不含不动产查封。", f("抵押人", "dyr"))
	add("xy-mzj", "婚姻登记信息", "结婚、离婚登记记录。", f("男方姓名", "nfxm"), f("女方姓名", "vfxm"))
	add("xy-gaj", "户籍人口信息", "常住户籍人口。", f("户号", "hh"), f("姓名", "xm"))
	add("xy-gaj", "登记不动员信息", "测试：名称里的登记两字后跟着不动两字。", f("姓名", "xm"))
	add("xy-sjj", "GDP统计信息", "地区生产总值（GDP）季度数据。", f("统计年度", "tjnd"))
	add("xy-sjj", "达标率100%名单", "含百分号_与下划线的名称。", f("达标率", "dbl"))
	// A draft: never found by default.
	mustCreate(t, s, admin, content("xy-mzj", "登记草稿信息"))
	return codes
}

func names(r catalog.SearchResult) []string {
	out := []string{}
	for _, h := range r.Items {
		out = append(out, h.Name)
	}
	return out
}

func TestSearch(t *testing.T) {
	// The same expectations run on both backends: same answers, same order.
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		searchFixture(t, s)
		for _, tc := range []struct {
			q    string
			want []string
		}{
			// Three characters: two bigrams, then the phrase is checked.
			{"不动产", []string{"不动产", "不动产登记信息", "抵押登记信息"}},
			// Two characters, straight from the index, ranked: name prefix
			// (12+) before name contains (8+), then fields, then summary.
			{"登记", []string{"登记不动员信息", "不动产登记信息", "婚姻登记信息", "抵押登记信息"}},
			{"姓名", []string{"婚姻登记信息", "户籍人口信息", "登记不动员信息"}},
			// One character: a prefix range over the terms.
			{"户", []string{"户籍人口信息"}},
			{"婚", []string{"婚姻登记信息"}},
			// Not contiguous: 登记不动 is in one name only.
			{"登记不动", []string{"登记不动员信息"}},
			{"不动产登记", []string{"不动产登记信息"}},
			// Several words: all must match.
			{"不动产 抵押", []string{"抵押登记信息"}},
			// Full-width and case are normalised in index and query.
			{"ＧＤＰ", []string{"GDP统计信息"}},
			{"gdp统计", []string{"GDP统计信息"}},
			{"  　登记信息　 ", []string{"不动产登记信息", "抵押登记信息", "婚姻登记信息"}}, // ties by code
			// Field codes are searchable.
			{"bdcdyh", []string{"不动产登记信息"}},
			// LIKE metacharacters and quotes are literal.
			{"100%", []string{"达标率100%名单"}},
			{"%", []string{"达标率100%名单"}},
			{"_", []string{"达标率100%名单"}},
			{"达_率", []string{}},   // _ is not a wildcard
			{"达标%名单", []string{}}, // nor is %
			{"百分号_与", []string{"达标率100%名单"}},
			{"'", []string{}},
			{`\`, []string{}},
			{`登记' OR 1=1 --`, []string{}},
			{"没有这个词", []string{}},
		} {
			t.Run(tc.q, func(t *testing.T) {
				r, err := s.Search(ctx, catalog.SearchQuery{Q: tc.q})
				if err != nil {
					t.Fatal(err)
				}
				if got := names(r); strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Errorf("search %q = %v, want %v", tc.q, got, tc.want)
				}
			})
		}
	})
}

func TestSearchMarksAndPages(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		searchFixture(t, s)
		r, err := s.Search(ctx, catalog.SearchQuery{Q: "不动产"})
		if err != nil {
			t.Fatal(err)
		}
		h := r.Items[1]
		if h.NameMarked != "<mark>不动产</mark>登记信息" || h.ProviderName != "襄阳市不动产登记中心" || h.Score != 12+3+1 {
			t.Fatalf("hit %+v", h)
		}
		if len(h.Fields) != 1 || h.Fields[0] != "<mark>不动产</mark>单元号" {
			t.Errorf("marked fields %v", h.Fields)
		}
		if !strings.Contains(h.SummaryMarked, "<mark>不动产</mark>权属") {
			t.Errorf("summary %q", h.SummaryMarked)
		}
		// Escaping: a matched name is HTML-safe.
		r, _ = s.Search(ctx, catalog.SearchQuery{Q: "100%"})
		if r.Items[0].NameMarked != "达标率<mark>100%</mark>名单" {
			t.Errorf("marked %q", r.Items[0].NameMarked)
		}
		// Pages: two at a time, in the same order as one page.
		all, _ := s.Search(ctx, catalog.SearchQuery{Q: "登记"})
		var paged []string
		q := catalog.SearchQuery{Q: "登记", Limit: 2}
		for {
			p, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, names(p)...)
			if p.NextCursor == "" {
				break
			}
			q.Cursor = p.NextCursor
		}
		if strings.Join(paged, "|") != strings.Join(names(all), "|") {
			t.Errorf("paged %v, one page %v", paged, names(all))
		}
		// Drafts: only when asked for.
		r, _ = s.Search(ctx, catalog.SearchQuery{Q: "草稿"})
		if len(r.Items) != 0 {
			t.Errorf("draft found by default: %v", names(r))
		}
		r, _ = s.Search(ctx, catalog.SearchQuery{Q: "草稿", Status: catalog.StatusDraft})
		if len(r.Items) != 1 {
			t.Errorf("draft not found with status=draft: %v", names(r))
		}
	})
}

func TestSearchBadQueries(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		searchFixture(t, s)
		for _, tc := range []struct{ name, q, pointer string }{
			{"empty", "", "?q"},
			{"only spaces", " 　 ", "?q"},
			{"1000 characters", strings.Repeat("登", 1000), "?q"},
			{"1000 percent signs", strings.Repeat("%", 1000), "?q"},
			{"too many words", "a b c d e f g h i", "?q"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.Search(ctx, catalog.SearchQuery{Q: tc.q})
				wantField(t, err, tc.pointer)
			})
		}
		_, err := s.Search(ctx, catalog.SearchQuery{Q: "登记", Cursor: "x"})
		wantField(t, err, "?cursor")
		// 100 characters is still a query.
		if _, err := s.Search(ctx, catalog.SearchQuery{Q: strings.Repeat("登记", 50)}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSearchIndexFollowsWrites: the index changes in the same transaction
// as the item, and a failed change leaves both as they were.
func TestSearchIndexFollowsWrites(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		codes := searchFixture(t, s)
		code := codes["婚姻登记信息"]
		it, _ := s.Item(ctx, code)
		u := catalog.ItemUpdate{Version: it.Version, Content: it.Content}
		u.Name = "收养登记信息"
		if _, err := s.Update(ctx, admin, code, u); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Search(ctx, catalog.SearchQuery{Q: "婚姻"}); len(r.Items) != 0 {
			t.Errorf("old name still found: %v", names(r))
		}
		if r, _ := s.Search(ctx, catalog.SearchQuery{Q: "收养"}); len(r.Items) != 1 {
			t.Errorf("new name not found: %v", names(r))
		}
		// A failing update (stale version) changes neither item nor index.
		u.Name = "失败的改名"
		_, err := s.Update(ctx, admin, code, u)
		wantKind(t, err, errs.KindConflict)
		if r, _ := s.Search(ctx, catalog.SearchQuery{Q: "失败"}); len(r.Items) != 0 {
			t.Errorf("failed update reached the index: %v", names(r))
		}
		// Withdrawn items leave the default search but stay in history.
		if _, err := s.Withdraw(ctx, admin, code, "停用"); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Search(ctx, catalog.SearchQuery{Q: "收养"}); len(r.Items) != 0 {
			t.Errorf("withdrawn item found: %v", names(r))
		}
		if r, _ := s.Search(ctx, catalog.SearchQuery{Q: "收养", AnyStatus: true}); len(r.Items) != 1 {
			t.Errorf("withdrawn item not found with any status: %v", names(r))
		}
	})
}

// TestSearchConcurrentWithWrites: searches running while items change see
// either the old or the new state, never an error (run with -race).
func TestSearchConcurrentWithWrites(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		s := newService(t, d)
		ctx := context.Background()
		codes := searchFixture(t, s)
		code := codes["婚姻登记信息"]
		done := make(chan struct{})
		errc := make(chan error, 4)
		for g := 0; g < 4; g++ {
			go func(g int) {
				qs := []string{"登记", "户", "不动产 抵押", "收养登记", "姓名"}
				for i := 0; ; i++ {
					select {
					case <-done:
						errc <- nil
						return
					default:
					}
					r, err := s.Search(ctx, catalog.SearchQuery{Q: qs[(i+g)%len(qs)], AnyStatus: i%2 == 0})
					if err != nil {
						errc <- err
						return
					}
					for _, h := range r.Items {
						if h.Code == "" || h.Name == "" || h.NameMarked == "" {
							errc <- fmt.Errorf("empty hit %+v", h)
							return
						}
					}
				}
			}(g)
		}
		for i := 0; i < 10; i++ {
			it, err := s.Item(ctx, code)
			if err != nil {
				t.Fatal(err)
			}
			u := catalog.ItemUpdate{Version: it.Version, Content: it.Content}
			u.Name = []string{"收养登记信息", "婚姻登记信息"}[i%2]
			if _, err := s.Update(ctx, admin, code, u); err != nil {
				t.Fatal(err)
			}
		}
		close(done)
		for g := 0; g < 4; g++ {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		r, _ := s.Search(ctx, catalog.SearchQuery{Q: "婚姻登记"})
		if len(r.Items) != 1 {
			t.Errorf("after the updates: %v", names(r))
		}
	})
}
