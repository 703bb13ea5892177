package api

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// A body member whose type decodes itself (time.Time) and fails is named
// by its pointer, however deep, as encoding/json's own errors are.
func TestBindJSONNamesTheTimeThatDoesNotParse(t *testing.T) {
	type window struct {
		From time.Time `json:"from"`
		To   time.Time `json:"to,omitempty"`
	}
	type Base struct {
		At time.Time `json:"at"`
	}
	type body struct {
		Base
		Name    string            `json:"name"`
		Windows []window          `json:"windows"`
		ByKey   map[string]window `json:"by_key"`
		Odd     time.Time         `json:"a/b"`
		Plain   time.Time
	}
	for _, tc := range []struct{ json, want string }{
		{`{"name":"2027-01-31","at":"2027-01-31"}`, "/at"},
		{`{"windows":[{"from":"2027-01-31T00:00:00Z"},{"from":"2027-01-31T00:00:00Z","to":"soon"}]}`, "/windows/1/to"},
		{`{"by_key":{"x":{"from":5}}}`, "/by_key/x/from"},
		{`{"a/b":"never"}`, "/a~1b"},
		{`{"plain":"never"}`, "/plain"},
	} {
		gin.SetMode(gin.TestMode)
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("POST", "/", bytes.NewReader([]byte(tc.json)))
		c.Request.Header.Set("Content-Type", "application/json")
		var v body
		err := bindJSON(c, &v)
		var e *errs.Error
		if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Pointer != tc.want {
			t.Errorf("%s: %v, want one error at %s", tc.json, err, tc.want)
		}
	}
}
