package catalog

import (
	"context"
	"sort"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// Library kinds.
const (
	LibraryBase  = "base"  // 基础库
	LibraryTheme = "theme" // 主题库
)

// Library is a base or theme library (基础库, 主题库). Department
// catalogues are not stored as libraries: an item is in its provider's.
type Library struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Items int    `json:"items"` // items in the library (of the statuses counted)
}

// Libraries lists the libraries in their display order.
func (s *Service) Libraries(ctx context.Context) ([]Library, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, kind, name FROM catalog_libraries ORDER BY sort, id`)
	if err != nil {
		return nil, db.Interpret(err, "libraries")
	}
	defer rows.Close()
	out := []Library{}
	for rows.Next() {
		var l Library
		if err := rows.Scan(&l.ID, &l.Kind, &l.Name); err != nil {
			return nil, db.Interpret(err, "libraries")
		}
		out = append(out, l)
	}
	return out, db.Interpret(rows.Err(), "libraries")
}

// CountedLibraries is Libraries with each library's item count (Items):
// published items only when publishedOnly, as Tree counts them.
func (s *Service) CountedLibraries(ctx context.Context, publishedOnly bool) ([]Library, error) {
	libs, err := s.Libraries(ctx)
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	if err := s.counts(ctx, libraryCounts(publishedOnly), n); err != nil {
		return nil, err
	}
	for i := range libs {
		libs[i].Items = n[libs[i].ID]
	}
	return libs, nil
}

// libraryCounts is the query of library id and item count.
func libraryCounts(publishedOnly bool) string {
	q := `SELECT l.library_id, COUNT(*) FROM catalog_item_libraries l JOIN catalog_items i ON i.code = l.code`
	if publishedOnly {
		q += ` WHERE i.status = 'published'`
	}
	return q + ` GROUP BY l.library_id`
}

// TreeNode is one node of the library tree.
type TreeNode struct {
	ID       string     `json:"id"`
	Kind     string     `json:"kind"` // group, base, theme, department
	Name     string     `json:"name"`
	Items    int        `json:"items"`
	Children []TreeNode `json:"children,omitempty"`
}

// Tree returns the directory as a tree: base libraries, theme libraries,
// and department catalogues following the department tree, each with its
// item count. publishedOnly counts published items only.
func (s *Service) Tree(ctx context.Context, publishedOnly bool) ([]TreeNode, error) {
	libs, err := s.Libraries(ctx)
	if err != nil {
		return nil, err
	}
	cond := ""
	if publishedOnly {
		cond = ` WHERE i.status = 'published'`
	}
	libCount := map[string]int{}
	if err := s.counts(ctx, libraryCounts(publishedOnly), libCount); err != nil {
		return nil, err
	}
	depCount := map[string]int{}
	if err := s.counts(ctx, `SELECT i.provider_id, COUNT(*) FROM catalog_items i`+cond+` GROUP BY i.provider_id`, depCount); err != nil {
		return nil, err
	}
	base := TreeNode{ID: "base", Kind: "group", Name: "基础库"}
	theme := TreeNode{ID: "theme", Kind: "group", Name: "主题库"}
	for _, l := range libs {
		n := TreeNode{ID: l.ID, Kind: l.Kind, Name: l.Name, Items: libCount[l.ID]}
		if l.Kind == LibraryBase {
			base.Children, base.Items = append(base.Children, n), base.Items+n.Items
		} else {
			theme.Children, theme.Items = append(theme.Children, n), theme.Items+n.Items
		}
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, name, COALESCE(parent_id, '') FROM departments ORDER BY id`)
	if err != nil {
		return nil, db.Interpret(err, "departments")
	}
	type dep struct{ id, name, parent string }
	var deps []dep
	for rows.Next() {
		var d dep
		if err := rows.Scan(&d.id, &d.name, &d.parent); err != nil {
			rows.Close()
			return nil, db.Interpret(err, "departments")
		}
		deps = append(deps, d)
	}
	rows.Close()
	children := map[string][]dep{}
	known := map[string]bool{}
	for _, d := range deps {
		known[d.id] = true
	}
	for _, d := range deps {
		p := d.parent
		if !known[p] {
			p = ""
		}
		children[p] = append(children[p], d)
	}
	var build func(parent string, depth int) ([]TreeNode, int)
	build = func(parent string, depth int) ([]TreeNode, int) {
		var out []TreeNode
		total := 0
		if depth > 32 {
			return nil, 0
		}
		for _, d := range children[parent] {
			n := TreeNode{ID: d.id, Kind: "department", Name: d.name}
			var sub int
			n.Children, sub = build(d.id, depth+1)
			n.Items = depCount[d.id] + sub
			total += n.Items
			out = append(out, n)
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out, total
	}
	deptNodes, deptTotal := build("", 0)
	depts := TreeNode{ID: "departments", Kind: "group", Name: "部门目录", Items: deptTotal, Children: deptNodes}
	return []TreeNode{base, theme, depts}, nil
}

func (s *Service) counts(ctx context.Context, q string, into map[string]int) error {
	rows, err := s.db.R.QueryContext(ctx, q)
	if err != nil {
		return db.Interpret(err, "item counts")
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return db.Interpret(err, "item counts")
		}
		into[k] = n
	}
	return db.Interpret(rows.Err(), "item counts")
}
