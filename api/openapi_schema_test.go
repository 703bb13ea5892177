package api_test

import (
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestOpenAPISealedDocumentIsJSON: the sealed document a seal adds to
// (signRequest.existing) or verifies (verifyRequest.jws) is a JSON value
// (the JWS object, or that JSON as a string), passed through as it is;
// the document described it as a base64 string, as it does []byte.
func TestOpenAPISealedDocumentIsJSON(t *testing.T) {
	h := hubtest.Start(t, db.SQLite)
	doc := h.Do(t, "GET", "/openapi.json", "", nil).Want(t, 200).Map(t)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name, field := range map[string]string{"SignRequest": "existing", "VerifyRequest": "jws"} {
		var props map[string]any
		for k, s := range schemas {
			if strings.EqualFold(k, name) {
				props, _ = s.(map[string]any)["properties"].(map[string]any)
			}
		}
		if props == nil {
			t.Fatalf("no schema %s among %d", name, len(schemas))
		}
		f, _ := props[field].(map[string]any)
		if f == nil || f["type"] != nil || f["format"] != nil {
			t.Errorf("%s.%s is described as %v; want any JSON value", name, field, f)
		}
	}
}
