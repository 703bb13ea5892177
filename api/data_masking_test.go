package api_test

import (
	"net/http"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestDataMaskingByValueShape: a masked field is masked by the rule its
// value fits. Only an 18-digit number (check character maybe wrong) is
// masked as a 身份证号, keeping its first 6 and last 4 characters; any
// other value of 18 bytes (an e-mail address, a name mixing ASCII and
// Chinese) keeps only its last 4. A number stored as a JSON number is
// masked from its exact digits, not from a float64 that rounded them.
func TestDataMaskingByValueShape(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	it := registeredItem(t, h, "人口基础信息（掩码）", map[string]string{
		"P1": `{"id":"P1","name":"zhangsanfeng@qq.cn","sfzh":420602199001010002}`,
		"P2": `{"id":"P2","name":"张san12345678901x","sfzh":"420602199001010003"}`,
		"P3": `{"id":"P3","name":"张三","sfzh":"42060219900101002x"}`,
	})
	var page dataResp
	h.Do(t, "GET", "/v1/data/"+it.Code+"/records", h.AppKey, nil, "X-Purpose: 户籍核验").Want(t, http.StatusOK).JSON(t, &page)
	want := map[string][2]string{
		"P1": {"**************q.cn", "420602********0002"},
		"P2": {"************901x", "420602********0003"},
		"P3": {"**", "420602********002x"},
	}
	if len(page.Records) != len(want) {
		t.Fatalf("page: %+v", page)
	}
	for _, r := range page.Records {
		w := want[r.Key]
		if r.Data["name"] != w[0] || r.Data["sfzh"] != w[1] {
			t.Errorf("%s: name %q sfzh %v, want %q %q", r.Key, r.Data["name"], r.Data["sfzh"], w[0], w[1])
		}
	}
}
