package seal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/internal/keys"
)

// testHub is a seal service over a fresh database and blob directory.
type testHub struct {
	db      *db.DB
	svc     *Service
	ex      *exchange.Service
	master  *keys.MasterKey
	blobDir string
	admin   *exchange.Principal
}

var orgSeq atomic.Uint64

func newTestHub(tb testing.TB, d *db.DB) *testHub {
	tb.Helper()
	ctx := context.Background()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	master, err := keys.NewMaster(raw)
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(tb.TempDir(), "blobs")
	store, err := blob.Open(ctx, "file:"+dir, blob.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ex := exchange.New(d, exchange.Config{})
	tb.Cleanup(func() { ex.Close() })
	svc, err := New(Config{DB: d, Master: master, Images: store, Directory: ex, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close() })
	h := &testHub{db: d, svc: svc, ex: ex, master: master, blobDir: dir}
	admOrg := h.org(tb, "襄阳市政务服务和大数据管理局")
	h.admin = &exchange.Principal{ID: "p-admin", DepartmentID: admOrg.ID, Name: "admin", Roles: []exchange.Role{exchange.RoleAdmin}}
	return h
}

// org registers a department with a valid credit code.
func (h *testHub) org(tb testing.TB, name string) exchange.Department {
	tb.Helper()
	n := orgSeq.Add(1)
	dep, err := h.ex.CreateDepartment(context.Background(), exchange.Department{
		ID:   fmt.Sprintf("org-%d", n),
		Code: ident.NewCreditCode('1', '1', "420600", 1000+n),
		Name: name,
		Kind: "office",
	})
	if err != nil {
		tb.Fatalf("department: %v", err)
	}
	return dep
}

// seal makes an active seal of org.
func (h *testHub) seal(tb testing.TB, org exchange.Department, kind Kind, alg Alg) Seal {
	tb.Helper()
	s, err := h.svc.CreateSeal(context.Background(), h.admin, NewSeal{
		OrganisationID: org.ID, Name: org.Name + string(kind) + string(alg), Kind: kind, Alg: alg,
		Image: DemoImage(org.Name),
	})
	if err != nil {
		tb.Fatalf("create seal: %v", err)
	}
	return s
}

// keeper is a principal of org allowed to apply its seals.
func keeper(org exchange.Department) *exchange.Principal {
	return &exchange.Principal{ID: "p-" + org.ID, DepartmentID: org.ID, Name: "keeper", Roles: []exchange.Role{exchange.RoleSealUser}}
}

func testDoc(content string) Document {
	sum := sha256.Sum256([]byte(content))
	return Document{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content)), MediaType: "application/pdf", Name: "采购合同.pdf"}
}

func mustSign(tb testing.TB, h *testHub, by *exchange.Principal, sealID string, req SignRequest) []byte {
	tb.Helper()
	out, err := h.svc.Sign(context.Background(), by, sealID, req)
	if err != nil {
		tb.Fatalf("sign with %s: %v", sealID, err)
	}
	return out
}

func mustVerify(tb testing.TB, h *testHub, jws []byte) Result {
	tb.Helper()
	res, err := h.svc.Verify(context.Background(), jws, nil)
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	return res
}

func wantKind(tb testing.TB, err error, k errs.Kind) {
	tb.Helper()
	if !errs.Is(err, k) {
		tb.Fatalf("got error %v (kind %s), want kind %s", err, errs.KindOf(err), k)
	}
}

// forge signs doc with the seal's current key at a chosen time, bypassing
// every check Sign makes, as someone holding the key could.
func (h *testHub) forge(tb testing.TB, sealID string, doc Document, at time.Time) []byte {
	tb.Helper()
	st, err := h.svc.state(context.Background(), sealID)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := h.svc.signerOf(context.Background(), st)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := signNew(k, &doc, at, "forged")
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// tJWS is a JWS JSON serialization for tests to take apart and tamper with.
type tJWS struct {
	Payload    string `json:"payload"`
	Signatures []tSig `json:"signatures"`
}

type tSig struct {
	Protected string         `json:"protected"`
	Header    map[string]any `json:"header,omitempty"`
	Signature string         `json:"signature"`
}

func splitJWS(tb testing.TB, b []byte) tJWS {
	tb.Helper()
	var j tJWS
	if err := json.Unmarshal(b, &j); err != nil {
		tb.Fatalf("JWS is not JSON: %v\n%s", err, b)
	}
	return j
}

func (j tJWS) bytes(tb testing.TB) []byte {
	tb.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (s tSig) header(tb testing.TB) map[string]any {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(s.Protected)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func encodeHeader(tb testing.TB, m map[string]any) string {
	tb.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
