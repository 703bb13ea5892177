package api_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// TestSealNotASealedDocumentSaysWhere: a JWS that is not a sealed document,
// given to verify or as the document a seal is added to, is a problem that
// says what is wrong and where, under the member or part that carried it.
func TestSealNotASealedDocumentSaysWhere(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	civil := appDepartment(h)
	sealer := sealUserKey(t, h, civil, "problem-sealer")
	s := createSeal(t, h, civil, "襄阳市民政局业务专用章（问题）")
	good := h.Do(t, "POST", "/v1/seals/"+s.ID+"/sign", sealer, map[string]any{"purpose": "x",
		"document": map[string]any{"sha256": strings.Repeat("ab", 32), "size": 1, "media_type": "application/pdf", "name": "a.pdf"}}).Want(t, 200).Body
	withPayload := func(stmt string) json.RawMessage {
		var j map[string]any
		if err := json.Unmarshal(good, &j); err != nil {
			t.Fatal(err)
		}
		j["payload"] = base64.RawURLEncoding.EncodeToString([]byte(stmt))
		b, _ := json.Marshal(j)
		return b
	}
	notStatement := withPayload(`{"hello":"world"}`)
	badDigest := withPayload(`{"sha256":"xyz","size":1,"media_type":"application/pdf","name":"a.pdf"}`)

	for _, c := range []struct {
		name    string
		r       *hubtest.Response
		pointer string
	}{
		{"verify, JSON, not a JWS", h.Do(t, "POST", "/v1/signatures/verify", "", map[string]any{"jws": "nope"}), "/jws"},
		{"verify, JSON, payload not a statement", h.Do(t, "POST", "/v1/signatures/verify", "", map[string]any{"jws": notStatement}), "/jws/payload"},
		{"verify, JSON, statement digest", h.Do(t, "POST", "/v1/signatures/verify", "", map[string]any{"jws": badDigest}), "/jws/payload/sha256"},
		{"verify, multipart", doMultipart(t, h, "/v1/signatures/verify", "", map[string]string{"jws": "nope"}, nil), "jws"},
		{"verify, bare JWS", h.Do(t, "POST", "/v1/signatures/verify", "", string(notStatement), "Content-Type: application/jose+json"), "/payload"},
		{"sign, existing payload not a statement", h.Do(t, "POST", "/v1/seals/"+s.ID+"/sign", sealer, map[string]any{"purpose": "x", "existing": notStatement}), "/existing/payload"},
	} {
		if c.r.Status != 400 {
			t.Errorf("%s: status %d, want 400: %s", c.name, c.r.Status, c.r.Body)
			continue
		}
		p := c.r.Problem(t)
		fes, _ := p["errors"].([]any)
		if len(fes) != 1 {
			t.Errorf("%s: the problem names no place: %s", c.name, c.r.Body)
			continue
		}
		fe := fes[0].(map[string]any)
		if fe["pointer"] != c.pointer || fe["reason"] == "" {
			t.Errorf("%s: problem at %q (%v), want %q", c.name, fe["pointer"], fe["reason"], c.pointer)
		}
	}
}
