package api_test

import (
	"context"
	"testing"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestCatalogLibrariesCountItems: GET /v1/catalog/libraries gives each
// library's item count (published items, as the tree counts them by
// default; every status with all=true for those who may see them), not
// 0 for every library.
func TestCatalogLibrariesCountItems(t *testing.T) {
	eachBackend(t, func(t *testing.T, h *hubtest.Hub) {
		var tree []catalog.TreeNode
		h.Do(t, "GET", "/v1/catalog/tree", h.AppKey, nil).Want(t, 200).JSON(t, &tree)
		want := map[string]int{}
		for _, g := range tree[:2] {
			for _, l := range g.Children {
				want[l.ID] = l.Items
			}
		}
		var libs struct{ Items []catalog.Library }
		h.Do(t, "GET", "/v1/catalog/libraries", h.AppKey, nil).Want(t, 200).JSON(t, &libs)
		if len(libs.Items) != 18 {
			t.Fatalf("%d libraries", len(libs.Items))
		}
		for _, l := range libs.Items {
			if l.Items != want[l.ID] || l.Items == 0 {
				t.Errorf("library %s (%s): %d items, the tree counts %d", l.ID, l.Name, l.Items, want[l.ID])
			}
		}
		// A draft counts only with all=true, which apps may not ask for.
		admin := &exchange.Principal{ID: "prn_test_admin", DepartmentID: "xy-sjj", Roles: []exchange.Role{exchange.RoleAdmin}}
		c := catalog.Content{Name: "人口基础信息（草稿）", Lei: "1", Xiang: "01", Mu: "001", ProviderID: "xy-gaj", Format: "数据库",
			ShareType: catalog.ShareUnconditional, ShareMethod: "接口服务", OpenType: "不予开放", UpdateCycle: "每日", Libraries: []string{"base-population"},
			Fields: []catalog.Field{{Name: "姓名", Code: "name", DataType: "字符型"}}}
		if _, err := h.Catalog.Create(context.Background(), admin, catalog.NewItem{Content: c}); err != nil {
			t.Fatal(err)
		}
		lib := "base-population"
		h.Do(t, "GET", "/v1/catalog/libraries?all=true", h.AppKey, nil).Want(t, 403).Problem(t)
		h.Do(t, "GET", "/v1/catalog/libraries?all=true", h.Admin, nil).Want(t, 200).JSON(t, &libs)
		for _, l := range libs.Items {
			if l.ID == lib && l.Items != want[lib]+1 {
				t.Errorf("library %s with all=true: %d items, want %d", lib, l.Items, want[lib]+1)
			}
		}
	})
}
