package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/seal"
)

// TestSealVerifyCLI seals a document through the API and verifies it with
// `sharehub seal verify`, offline, with the key set as a file and as a URL.
func TestSealVerifyCLI(t *testing.T) {
	clearEnv(t)
	h := hubtest.Start(t, db.SQLite)
	ctx := context.Background()
	var adminDept string
	for _, k := range h.Demo.Keys {
		if k.Role == "admin" {
			adminDept = k.Department
		}
	}
	var s seal.Seal
	h.Do(t, "POST", "/v1/seals", h.Admin, map[string]any{"organisation_id": adminDept, "name": "CLI测试公章", "kind": "公章", "image": seal.DemoImage("CLI测试")}).Want(t, 201).JSON(t, &s)
	doc := []byte("关于开展数据共享工作的通知\n")
	dir := t.TempDir()
	docFile := filepath.Join(dir, "notice.txt")
	os.WriteFile(docFile, doc, 0o600)
	d, err := seal.DigestDocument(strings.NewReader(string(doc)), "notice.txt", "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	jws := h.Do(t, "POST", "/v1/seals/"+s.ID+"/sign", h.Admin, map[string]any{"document": d, "purpose": "发文"}).Want(t, 200).Body
	jwsFile := filepath.Join(dir, "notice.jws")
	os.WriteFile(jwsFile, jws, 0o600)
	jwksFile := filepath.Join(dir, "jwks.json")
	os.WriteFile(jwksFile, h.Do(t, "GET", "/.well-known/jwks.json", "", nil).Want(t, 200).Body, 0o600)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, h.Do(t, "GET", "/v1/ca.pem", "", nil).Want(t, 200).Body, 0o600)

	code, out, errOut := cli(t, ctx, "seal", "verify", jwsFile, "--document", docFile, "--jwks", jwksFile)
	if code != 0 || !strings.Contains(out, "VALID") || !strings.Contains(out, "document checked") || !strings.Contains(out, s.ID) {
		t.Fatalf("verify with JWKS file: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cli(t, ctx, "seal", "verify", jwsFile, "--jwks", h.URL+"/.well-known/jwks.json", "--ca", caFile)
	if code != 0 || !strings.Contains(out, "document not checked") {
		t.Fatalf("verify with JWKS URL: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cli(t, ctx, "seal", "verify", jwsFile, "--ca", caFile, "--json")
	if code != 0 || !strings.Contains(out, `"key_checked": false`) {
		t.Fatalf("verify with the CA only: %d\n%s%s", code, out, errOut)
	}

	// A different document: exit 1 with the reason.
	other := filepath.Join(dir, "other.txt")
	os.WriteFile(other, []byte("另一份通知\n"), 0o600)
	code, out, _ = cli(t, ctx, "seal", "verify", jwsFile, "--document", other, "--jwks", jwksFile)
	if code != 1 || !strings.Contains(out, "NOT VALID: "+string(seal.ReasonDigestMismatch)) {
		t.Fatalf("other document: %d\n%s", code, out)
	}
	// A changed signature and garbage: exit 1; no key set or CA: exit 2.
	bad := []byte(strings.Replace(string(jws), `"signature":"`, `"signature":"A`, 1))
	os.WriteFile(jwsFile, bad, 0o600)
	if code, out, errOut = cli(t, ctx, "seal", "verify", jwsFile, "--jwks", jwksFile); code != 1 {
		t.Fatalf("changed signature: %d\n%s%s", code, out, errOut)
	}
	os.WriteFile(jwsFile, []byte("garbage"), 0o600)
	if code, _, errOut = cli(t, ctx, "seal", "verify", jwsFile, "--jwks", jwksFile); code != 1 {
		t.Fatalf("garbage: %d %s", code, errOut)
	}
	if code, _, _ = cli(t, ctx, "seal", "verify", jwsFile); code != 2 {
		t.Fatalf("no key set: exit %d, want 2", code)
	}
}
