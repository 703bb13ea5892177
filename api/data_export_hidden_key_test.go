package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	datasync "github.com/xiangyang-gov/sharehub/sync"
)

// TestDataExportErrorNamesRecordAsShown: an xlsx export refused for a
// value too long for a cell names the record as the caller sees it — by
// its reference when the grant hides the key (a 身份证号 shown masked) —
// not by the key the masking hides.
func TestDataExportErrorNamesRecordAsShown(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	long := strings.Repeat("襄", excelize.TotalCellChars+1)
	it := registeredItem(t, h, "人口基础信息（导出报错）", map[string]string{
		"420602199001010002": `{"id":"P1","sfzh":"420602199001010002","address":"` + long + `"}`,
	})
	gaj := key(t, h, "xy-gaj", "gaj-keeper", exchange.RoleDataAdmin)
	h.Do(t, "POST", "/v1/sync/jobs", gaj, datasync.NewJob{ItemCode: it.Code, Name: "按身份证号", Spec: datasync.Spec{KeyFields: []string{"sfzh"},
		Source: datasync.SourceSpec{Kind: datasync.SourceHTTP, URL: "http://127.0.0.1:1/people"}}}).Want(t, http.StatusCreated)
	r := h.Do(t, "GET", "/v1/data/"+it.Code+"/export?format=xlsx", h.AppKey, nil, "X-Purpose: 户籍核验").Want(t, http.StatusBadRequest)
	d := fmt.Sprint(r.Problem(t)["detail"])
	if strings.Contains(string(r.Body), "199001010") || !strings.Contains(d, "record ~") || !strings.Contains(d, "address") {
		t.Errorf("detail %q", d)
	}
}
