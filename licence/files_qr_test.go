package licence_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/licence"
)

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

func ofdBytes(t testing.TB, withRoot bool) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	name := "Doc_0/Document.xml"
	if withRoot {
		if w, err := zw.Create("OFD.xml"); err == nil {
			w.Write([]byte(`<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"/>`))
		}
	}
	w, _ := zw.Create(name)
	w.Write([]byte("<x/>"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testFiles(t *testing.T, f *fixture) {
	ctx := context.Background()
	gaj := issuer("xy-gaj")
	l := mustIssue(t, f, f.idCard(person()))
	pdf := []byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
	got, err := f.svc.AttachFile(ctx, gaj, l.ID, "身份证.pdf", bytes.NewReader(pdf))
	if err != nil {
		t.Fatal(err)
	}
	if got.File == nil || got.File.MediaType != licence.MediaPDF || got.File.Size != int64(len(pdf)) || got.Version != 2 {
		t.Fatalf("attached: %+v", got.File)
	}
	if v, err := f.svc.Verify(ctx, l.ID); err != nil || !v.Valid || !v.FileChecked {
		t.Fatalf("verify with file: %+v %v", v, err)
	}
	link, _, err := f.svc.FileLink(ctx, &got)
	if err != nil || !strings.Contains(link, got.File.SHA256) || !strings.Contains(link, "exp=") {
		t.Fatalf("link %s %v", link, err)
	}
	for _, c := range []struct {
		name, file string
		data       []byte
		kind       errs.Kind
	}{
		{"content is not what the name says", "scan.pdf", pngBytes, errs.KindInvalid},
		{"png ok", "scan.png", pngBytes, ""},
		{"jpeg ok", "scan.jpg", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10}, ""},
		{"ofd ok", "证照.ofd", ofdBytes(t, true), ""},
		{"zip that is not ofd", "证照.ofd", ofdBytes(t, false), errs.KindInvalid},
		{"text", "notes.pdf", []byte("hello"), errs.KindInvalid},
		{"unsupported extension", "x.exe", pdf, errs.KindInvalid},
		{"path-like name", "../../etc/x.pdf", pdf, errs.KindInvalid},
		{"windows path", `C:\x.pdf`, pdf, errs.KindInvalid},
		{"hidden name", ".pdf", pdf, errs.KindInvalid},
		{"control character", "a\nb.pdf", pdf, errs.KindInvalid},
		{"oversize", "big.pdf", append([]byte("%PDF-1.7\n"), make([]byte, 1<<20)...), errs.KindTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.svc.AttachFile(ctx, gaj, l.ID, c.file, bytes.NewReader(c.data))
			if c.kind == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, err, c.kind)
		})
	}
	// The stored file is altered behind the hub's back.
	cur, _ := f.svc.Get(ctx, l.ID)
	var path string
	filepath.Walk(f.blobDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(p) == cur.File.SHA256 {
			path = p
		}
		return nil
	})
	if path == "" {
		t.Fatal("blob file not found")
	}
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, []byte("%PDF-1.7 forged"), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.Verify(ctx, l.ID)
	if err != nil || v.Valid {
		t.Fatalf("altered file verifies: %+v %v", v, err)
	}
}

func testAttachDir(t *testing.T, f *fixture) {
	ctx := context.Background()
	a := mustIssue(t, f, f.idCard(person()))
	b := mustIssue(t, f, f.idCard(person()))
	dir := t.TempDir()
	pdf := []byte("%PDF-1.7\n%%EOF\n")
	os.WriteFile(filepath.Join(dir, a.Number+".pdf"), pdf, 0o600)
	os.WriteFile(filepath.Join(dir, b.Number+".png"), pdf, 0o600) // content is not what the name says
	os.WriteFile(filepath.Join(dir, "ID000.pdf"), pdf, 0o600)     // no such licence
	os.WriteFile(filepath.Join(dir, "notes.txt"), pdf, 0o600)
	res, err := f.svc.AttachDir(ctx, importer, a.TypeCode, dir)
	if err != nil || len(res) != 4 {
		t.Fatalf("AttachDir: %v %+v", err, res)
	}
	ok := 0
	for _, r := range res {
		if r.Error == "" {
			ok++
			if r.File != a.Number+".pdf" {
				t.Errorf("attached %s", r.File)
			}
		}
	}
	if ok != 1 {
		t.Fatalf("%d files attached, want 1: %+v", ok, res)
	}
	if got, _ := f.svc.Get(ctx, a.ID); got.File == nil || got.Version != 2 {
		t.Fatalf("licence after attach: %+v", got)
	}
	if v, err := f.svc.Verify(ctx, a.ID); err != nil || !v.Valid || !v.FileChecked {
		t.Fatalf("verify: %+v %v", v, err)
	}
	_, err = f.svc.AttachDir(ctx, issuer("xy-gaj"), a.TypeCode, dir)
	wantKind(t, err, errs.KindForbidden)
}

func testQR(t *testing.T, f *fixture) {
	ctx := context.Background()
	gaj := issuer("xy-gaj")
	l := mustIssue(t, f, f.idCard(person()))
	qr, err := f.svc.IssueQR(ctx, &l, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(qr.URL, "http://hub.test/verify/") || time.Until(qr.ExpiresAt) > 5*time.Minute+time.Second {
		t.Fatalf("qr %+v", qr)
	}
	c, err := f.svc.CheckQR(ctx, qr.Token)
	if err != nil || c.Outcome != licence.OutcomeValid || c.Licence == nil || c.Licence.Status != licence.StatusValid {
		t.Fatalf("fresh token: %+v %v", c, err)
	}
	if c.Licence.HolderName != "张**" || strings.Contains(c.Licence.HolderID, l.Holder.ID[6:14]) {
		t.Fatalf("holder not masked: %+v", c.Licence)
	}
	// Opened again within its life: still valid.
	if c, _ := f.svc.CheckQR(ctx, qr.Token); c.Outcome != licence.OutcomeValid {
		t.Fatalf("second view: %+v", c)
	}
	// Offline, against the JWKS.
	jwks, err := f.svc.TokenJWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := licence.KeysFromJWKS(jwks)
	if err != nil {
		t.Fatal(err)
	}
	if cl, out, why := licence.ParseToken(qr.Token, keys); out != licence.OutcomeValid || cl.Licence != l.ID {
		t.Fatalf("offline: %s %s %+v", out, why, cl)
	}
	// Forged: one character of the signature changed; a token signed by another key.
	parts := strings.Split(qr.Token, ".")
	sig := []byte(parts[2])
	sig[10] ^= 1
	if sig[10] == '-' || sig[10] == '_' {
		sig[10] = 'A'
	}
	forged := parts[0] + "." + parts[1] + "." + string(sig)
	for _, tok := range []string{forged, "not-a-token", parts[0] + ".e30." + parts[2], strings.Repeat("a", 5000)} {
		c, err := f.svc.CheckQR(ctx, tok)
		if err != nil || c.Outcome != licence.OutcomeForged || c.Reason == "" || c.Licence != nil {
			t.Fatalf("forged token %.40s: %+v %v", tok, c, err)
		}
	}
	_, other, _ := ed25519.GenerateKey(nil)
	_ = other
	if _, out, _ := licence.ParseToken(qr.Token, func(string) ed25519.PublicKey { pub, _, _ := ed25519.GenerateKey(nil); return pub }); out != licence.OutcomeForged {
		t.Fatalf("token verified under a foreign key: %s", out)
	}
	// Superseded: the licence changed after the code was made.
	if _, err := f.svc.Apply(ctx, gaj, l.ID, licence.Change{Event: licence.EventSuspend, Reason: "暂扣"}); err != nil {
		t.Fatal(err)
	}
	// The licence is no longer 有效, so the stale code shows what it is now.
	c, err = f.svc.CheckQR(ctx, qr.Token)
	if err != nil || c.Outcome != licence.OutcomeSuperseded || c.Licence == nil || c.Licence.Status != licence.StatusSuspended ||
		c.Status != licence.StatusSuspended || !strings.Contains(c.Reason, "stale") {
		t.Fatalf("superseded: %+v %v", c, err)
	}
	cur, _ := f.svc.Get(ctx, l.ID)
	qr2, err := f.svc.IssueQR(ctx, &cur, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := f.svc.CheckQR(ctx, qr2.Token); c.Outcome != licence.OutcomeValid || c.Licence.StatusName != "暂扣" {
		t.Fatalf("suspended licence token: %+v", c)
	}
	// Expired.
	f.offset.Store(int64(2 * time.Minute))
	defer f.offset.Store(0)
	c, err = f.svc.CheckQR(ctx, qr2.Token)
	if err != nil || c.Outcome != licence.OutcomeExpired || c.Licence != nil {
		t.Fatalf("expired: %+v %v", c, err)
	}
	_, err = f.svc.IssueQR(ctx, &cur, 48*time.Hour)
	wantKind(t, err, errs.KindInvalid)
}
