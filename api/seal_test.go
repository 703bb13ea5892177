package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/seal"
)

// sealUserKey makes a seal-user principal in dept and returns its key.
func sealUserKey(t *testing.T, h *hubtest.Hub, dept, name string) string {
	t.Helper()
	ctx := context.Background()
	p, err := h.Exchange.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: dept, Name: name, Roles: []exchange.Role{exchange.RoleSealUser}})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := h.Exchange.CreateKey(ctx, p.ID, "test", timeZero)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// doMultipart posts a multipart form: fields, and files as name → content.
func doMultipart(t *testing.T, h *hubtest.Hub, path, key string, fields map[string]string, files map[string][]byte, headers ...string) *hubtest.Response {
	t.Helper()
	return postForm(t, h, path, key, func(w *multipart.Writer) { writeFormParts(t, w, fields, files) }, headers...)
}

// writeFormParts writes fields, and files as name → content.
func writeFormParts(t *testing.T, w *multipart.Writer, fields map[string]string, files map[string][]byte) {
	t.Helper()
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range files {
		fw, err := w.CreateFormFile(k, k+".pdf")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(v)
	}
}

// postForm posts the multipart form write writes, with key and headers
// ("Name: value").
func postForm(t *testing.T, h *hubtest.Hub, path, key string, write func(*multipart.Writer), headers ...string) *hubtest.Response {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	write(w)
	w.Close()
	req, err := http.NewRequest("POST", h.URL+path, &b)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for _, hv := range headers {
		k, v, _ := strings.Cut(hv, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &hubtest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

func createSeal(t *testing.T, h *hubtest.Hub, dept, name string) seal.Seal {
	t.Helper()
	var s seal.Seal
	h.Do(t, "POST", "/v1/seals", h.Admin, map[string]any{
		"organisation_id": dept, "name": name, "kind": "合同专用章", "image": seal.DemoImage(name),
	}).Want(t, 201).JSON(t, &s)
	if s.ID == "" || s.Status != seal.StatusActive || len(s.Keys) != 1 {
		t.Fatalf("created seal %+v", s)
	}
	return s
}

func verifyResult(t *testing.T, h *hubtest.Hub, jws []byte, doc []byte) seal.Result {
	t.Helper()
	body := map[string]any{"jws": json.RawMessage(jws)}
	if doc != nil {
		body["document"] = doc
	}
	var res seal.Result
	h.Do(t, "POST", "/v1/signatures/verify", "", body).Want(t, 200).JSON(t, &res)
	return res
}

// b64Tamper re-encodes one base64url member of a JWS after changing it.
func tamperPayload(t *testing.T, jws []byte, change func(map[string]any)) []byte {
	t.Helper()
	var j map[string]any
	if err := json.Unmarshal(jws, &j); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.RawURLEncoding.DecodeString(j["payload"].(string))
	var st map[string]any
	json.Unmarshal(p, &st)
	change(st)
	p, _ = json.Marshal(st)
	j["payload"] = base64.RawURLEncoding.EncodeToString(p)
	out, _ := json.Marshal(j)
	return out
}

// demoSealers are the demo's civil-affairs department (the app key's) and
// data bureau (the admin's), with a seal user's key in each, named with
// prefix.
func demoSealers(t *testing.T, h *hubtest.Hub, prefix string) (civil, dataBureau, civilSealer, dataSealer string) {
	t.Helper()
	for _, k := range h.Demo.Keys {
		switch k.Role {
		case "app":
			civil = k.Department
		case "admin":
			dataBureau = k.Department
		}
	}
	return civil, dataBureau, sealUserKey(t, h, civil, prefix+"civil-sealer"), sealUserKey(t, h, dataBureau, prefix+"data-sealer")
}

func TestSealsHTTP(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			civil, dataBureau, civilSealer, dataSealer := demoSealers(t, h, "")

			// Only administrators create seals; the image is validated.
			h.Do(t, "POST", "/v1/seals", h.AppKey, map[string]any{"organisation_id": civil, "name": "x", "kind": "公章", "image": seal.DemoImage("x")}).Want(t, 403)
			p := h.Do(t, "POST", "/v1/seals", h.Admin, map[string]any{"organisation_id": civil, "name": "坏图章", "kind": "公章",
				"image": []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)}).Want(t, 400).Problem(t)
			if !strings.Contains(string(mustJSON(p)), "image") {
				t.Errorf("bad image problem does not name the image: %v", p)
			}
			civilSeal := createSeal(t, h, civil, "襄阳市民政局合同专用章")
			dataSeal := createSeal(t, h, dataBureau, "襄阳市政务服务和大数据管理局合同专用章")

			var page struct {
				Items      []seal.Seal `json:"items"`
				NextCursor string      `json:"next_cursor"`
			}
			h.Do(t, "GET", "/v1/seals?organisation_id="+civil+"&kind=合同专用章", civilSealer, nil).Want(t, 200).JSON(t, &page)
			if len(page.Items) != 1 || page.Items[0].ID != civilSeal.ID {
				t.Fatalf("list by organisation: %+v", page.Items)
			}
			h.Do(t, "GET", "/v1/seals?status=lost", civilSealer, nil).Want(t, 400)
			h.Do(t, "GET", "/v1/seals/"+civilSeal.ID, civilSealer, nil).Want(t, 200)
			h.Do(t, "GET", "/v1/seals/nope", civilSealer, nil).Want(t, 404)
			img := h.Do(t, "GET", "/v1/seals/"+civilSeal.ID+"/image", civilSealer, nil).Want(t, 200)
			if ct := img.Header.Get("Content-Type"); !strings.HasPrefix(ct, "image/svg+xml") || !bytes.Contains(img.Body, []byte("<svg")) {
				t.Fatalf("image %q %.60s", ct, img.Body)
			}

			// Sign an uploaded document.
			doc := []byte("%PDF-1.7 采购合同 襄阳市民政局 与 襄阳市政务服务和大数据管理局\n")
			sum := sha256.Sum256(doc)
			digest := hex.EncodeToString(sum[:])
			signed := doMultipart(t, h, "/v1/seals/"+civilSeal.ID+"/sign", civilSealer,
				map[string]string{"purpose": "签订采购合同"}, map[string][]byte{"file": doc}, "X-Request-ID: seal-sign-upload").Want(t, 200)
			if ct := signed.Header.Get("Content-Type"); ct != "application/jose+json" {
				t.Fatalf("sign content type %q", ct)
			}
			jws1 := signed.Body
			res := verifyResult(t, h, jws1, doc)
			if !res.Valid || !res.DocumentChecked || len(res.Signatures) != 1 || res.Document.SHA256 != digest || res.Signatures[0].SealID != civilSeal.ID {
				t.Fatalf("verify upload-signed: %s", mustJSON(res))
			}

			// The signing is in the audit log, naming the seal and the document.
			es := entriesFor(t, h, "seal-sign-upload")
			if len(es) != 1 || !contains(es[0].Resources, "seal:"+civilSeal.ID) || !contains(es[0].Resources, "sha256:"+digest) || es[0].Purpose != "签订采购合同" || es[0].Status != 200 {
				t.Fatalf("audit entries for the signing: %+v", es)
			}

			// Sign a supplied digest (JSON).
			jsonSign := map[string]any{"document": map[string]any{"sha256": digest, "size": len(doc), "media_type": "application/pdf", "name": "合同.pdf"}, "purpose": "签订采购合同"}
			jws2 := h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/sign", civilSealer, jsonSign).Want(t, 200).Body
			if res := verifyResult(t, h, jws2, doc); !res.Valid || res.Document.Name != "合同.pdf" {
				t.Fatalf("verify digest-signed: %s", mustJSON(res))
			}

			// Permissions: an app without the seal-user role; another organisation's seal.
			h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/sign", h.AppKey, jsonSign).Want(t, 403)
			h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/sign", dataSealer, jsonSign).Want(t, 403)
			h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/suspend", civilSealer, map[string]any{"reason": "x"}).Want(t, 403)
			h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/sign", civilSealer, map[string]any{"purpose": "没有文件"}).Want(t, 400)
			h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/sign", civilSealer, map[string]any{"document": map[string]any{"sha256": "abc", "size": 1, "media_type": "application/pdf", "name": "a"}, "purpose": "x"}).Want(t, 400)

			// Two organisations' seals on one contract: the second adds its signature.
			jws3 := h.Do(t, "POST", "/v1/seals/"+dataSeal.ID+"/sign", dataSealer, map[string]any{"purpose": "签订采购合同（乙方）", "existing": json.RawMessage(jws1)}).Want(t, 200).Body
			res = verifyResult(t, h, jws3, doc)
			if !res.Valid || len(res.Signatures) != 2 || res.Signatures[0].SealID != civilSeal.ID || res.Signatures[1].SealID != dataSeal.ID {
				t.Fatalf("verify two seals: %s", mustJSON(res))
			}
			// The same, as multipart with the existing JWS as a field and a bare-JWS verify.
			mp := doMultipart(t, h, "/v1/seals/"+dataSeal.ID+"/sign", dataSealer, map[string]string{"purpose": "乙方", "existing": string(jws1)}, nil).Want(t, 200).Body
			var bare seal.Result
			h.Do(t, "POST", "/v1/signatures/verify", "", string(mp), "Content-Type: application/jose+json").Want(t, 200).JSON(t, &bare)
			if !bare.Valid || len(bare.Signatures) != 2 || bare.DocumentChecked {
				t.Fatalf("bare JWS verify: %s", mustJSON(bare))
			}
			// Multipart verify with the document as a file.
			var mres seal.Result
			doMultipart(t, h, "/v1/signatures/verify", "", map[string]string{"jws": string(jws3)}, map[string][]byte{"document": doc}).Want(t, 200).JSON(t, &mres)
			if !mres.Valid || !mres.DocumentChecked {
				t.Fatalf("multipart verify: %s", mustJSON(mres))
			}
			// Offline, with the published key set only.
			jr := h.Do(t, "GET", "/.well-known/jwks.json", "", nil).Want(t, 200)
			jwks := jr.Body
			if etag := jr.Header.Get("ETag"); etag == "" {
				t.Error("the key set has no ETag")
			} else {
				h.Do(t, "GET", "/.well-known/jwks.json", "", nil, "If-None-Match: "+etag).Want(t, 304)
			}
			off, err := seal.VerifyOffline(jws3, bytes.NewReader(doc), jwks)
			if err != nil || !off.Valid || len(off.Signatures) != 2 {
				t.Fatalf("offline: %v %s", err, mustJSON(off))
			}
			if pem := h.Do(t, "GET", "/v1/ca.pem", "", nil).Want(t, 200).Body; !bytes.HasPrefix(pem, []byte("-----BEGIN CERTIFICATE-----")) {
				t.Fatalf("ca.pem: %.40s", pem)
			}

			// Tampering surfaces as reasons in the result.
			other := append(append([]byte{}, doc...), '!')
			if res := verifyResult(t, h, jws3, other); res.Valid || res.Signatures[0].Reason != seal.ReasonDigestMismatch {
				t.Fatalf("other document: %s", mustJSON(res))
			}
			changed := tamperPayload(t, jws3, func(st map[string]any) { st["name"] = "另一份合同.pdf" })
			if res := verifyResult(t, h, changed, nil); res.Valid || res.Signatures[0].Reason != seal.ReasonBadSignature || res.Signatures[1].Reason != seal.ReasonBadSignature {
				t.Fatalf("changed payload: %s", mustJSON(res))
			}
			var j map[string]any
			json.Unmarshal(jws3, &j)
			sig := j["signatures"].([]any)[1].(map[string]any)
			sb, _ := base64.RawURLEncoding.DecodeString(sig["signature"].(string))
			sb[0] ^= 1
			sig["signature"] = base64.RawURLEncoding.EncodeToString(sb)
			if res := verifyResult(t, h, mustJSON(j), nil); res.Valid || !res.Signatures[0].Valid || res.Signatures[1].Reason != seal.ReasonBadSignature {
				t.Fatalf("changed signature: %s", mustJSON(res))
			}

			// Garbage is 400, a 10 MB JWS 413.
			h.Do(t, "POST", "/v1/signatures/verify", "", map[string]any{"jws": "not a jws"}).Want(t, 400).Problem(t)
			h.Do(t, "POST", "/v1/signatures/verify", "", "{\"jws\": {\"payload\": 1}}").Want(t, 400)
			h.Do(t, "POST", "/v1/signatures/verify", "", "nonsense").Want(t, 400)
			huge := `{"jws":"` + strings.Repeat("A", 10<<20) + `"}`
			h.Do(t, "POST", "/v1/signatures/verify", "", huge).Want(t, 413).Problem(t)
			h.Do(t, "POST", "/v1/signatures/verify", "", strings.Repeat("A", 10<<20), "Content-Type: application/jose+json").Want(t, 413)
			h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/sign", civilSealer, `{"purpose":"x","existing":"`+strings.Repeat("A", 10<<20)+`"}`).Want(t, 413)

			// Suspended and revoked seals do not sign (409); what they signed before stays valid.
			h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/suspend", h.Admin, map[string]any{"reason": "印章保管人变更"}).Want(t, 200)
			h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/sign", civilSealer, jsonSign).Want(t, 409).Problem(t)
			h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/reinstate", h.Admin, map[string]any{"reason": "交接完成"}).Want(t, 200)
			h.Do(t, "POST", "/v1/seals/"+civilSeal.ID+"/sign", civilSealer, jsonSign).Want(t, 200)
			var rotated seal.Seal
			h.Do(t, "POST", "/v1/seals/"+dataSeal.ID+"/rotate", h.Admin, nil).Want(t, 200).JSON(t, &rotated)
			if len(rotated.Keys) != 2 {
				t.Fatalf("rotated keys: %+v", rotated.Keys)
			}
			h.Do(t, "POST", "/v1/seals/"+dataSeal.ID+"/revoke", h.Admin, map[string]any{"reason": "机构撤并"}).Want(t, 200)
			h.Do(t, "POST", "/v1/seals/"+dataSeal.ID+"/sign", dataSealer, jsonSign).Want(t, 409)
			h.Do(t, "POST", "/v1/seals/"+dataSeal.ID+"/reinstate", h.Admin, map[string]any{"reason": "x"}).Want(t, 409)
			if res := verifyResult(t, h, jws3, doc); !res.Valid || res.Signatures[1].StatusNow != seal.StatusRevoked {
				t.Fatalf("signed before revocation: %s", mustJSON(res))
			}

			// Usage records: the seal's organisation, administrators and auditors.
			var usage struct {
				Items []seal.UsageRecord `json:"items"`
			}
			h.Do(t, "GET", "/v1/seals/"+civilSeal.ID+"/usage", civilSealer, nil).Want(t, 200).JSON(t, &usage)
			if len(usage.Items) != 3 || usage.Items[2].Document.SHA256 != digest || usage.Items[2].Purpose != "签订采购合同" {
				t.Fatalf("usage: %s", mustJSON(usage))
			}
			h.Do(t, "GET", "/v1/seals/"+civilSeal.ID+"/usage", h.Auditor, nil).Want(t, 200)
			h.Do(t, "GET", "/v1/seals/"+civilSeal.ID+"/usage", dataSealer, nil).Want(t, 403)
		})
	}
}

func TestSealVerifyRateLimit(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	var limited *hubtest.Response
	for i := 0; i < 200 && limited == nil; i++ {
		// A forged X-Forwarded-For does not buy a fresh bucket.
		r := h.Do(t, "POST", "/v1/signatures/verify", "", map[string]any{"jws": "x"}, fmt.Sprintf("X-Forwarded-For: 10.0.%d.%d", i/250, i%250))
		switch r.Status {
		case 400:
		case 429:
			limited = r
		default:
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	}
	if limited == nil {
		t.Fatal("200 verifications from one address were never rate-limited")
	}
	if ra := limited.Header.Get("Retry-After"); ra == "" || ra == "60" {
		t.Errorf("Retry-After %q", ra)
	}
	if p := limited.Problem(t); p["status"].(float64) != 429 {
		t.Errorf("problem %v", p)
	}
	// Other routes are not limited.
	h.Do(t, "GET", "/.well-known/jwks.json", "", nil).Want(t, 200)
}
