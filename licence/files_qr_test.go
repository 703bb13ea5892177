package licence_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
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
	if cl, out, why := licence.ParseToken(qr.Token, keys); out != licence.OutcomeValid || cl.Ref == "" || cl.Version != l.Version {
		t.Fatalf("offline: %s %s %+v", out, why, cl)
	}
	// A JWS is signed, not secret: the token must not name the licence
	// (its serial is often the holder's id) to whoever scans it.
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(qr.Token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	serial := strings.Split(l.ID, ".")[len(strings.Split(l.ID, "."))-3]
	for _, secret := range []string{l.ID, l.Key(), serial, l.Holder.ID, l.Number} {
		if strings.Contains(string(payload), secret) || strings.Contains(qr.URL, secret) {
			t.Fatalf("the token shows %q: %s", secret, payload)
		}
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

// TestQRStale opens a code made before the licence changed (a stale,
// "replayed" code): when the licence is no longer 有效 the check gives its
// status now; when it is still 有效 (amended, renewed, returned) it gives
// no licence data and says the code is out of date.
func TestQRStale(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		gaj := issuer("xy-gaj")
		change := func(t *testing.T, l licence.Licence, cs ...licence.Change) licence.Licence {
			t.Helper()
			for _, c := range cs {
				var err error
				if l, err = f.svc.Apply(ctx, gaj, l.ID, c); err != nil {
					t.Fatalf("%s: %v", c.Event, err)
				}
			}
			return l
		}
		// stale makes a code for a new licence, changes the licence and
		// checks the code.
		stale := func(t *testing.T, n licence.NewLicence, cs ...licence.Change) (licence.TokenCheck, licence.Licence) {
			t.Helper()
			l := mustIssue(t, f, n)
			qr, err := f.svc.IssueQR(ctx, &l, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			l = change(t, l, cs...)
			c, err := f.svc.CheckQR(ctx, qr.Token)
			if err != nil {
				t.Fatal(err)
			}
			if c.Outcome != licence.OutcomeSuperseded || c.TokenVersion != 1 || c.CurrentVersion != l.Version ||
				!strings.Contains(c.Reason, "stale code") || !strings.Contains(c.Reason, "version 001") || !strings.Contains(c.Reason, fmt.Sprintf("now version %03d", l.Version)) {
				t.Fatalf("stale code: %+v (licence now version %d)", c, l.Version)
			}
			return c, l
		}
		for _, tc := range []struct {
			name  string
			cs    []licence.Change
			want  licence.Status
			words string
		}{
			{"revoked", []licence.Change{{Event: licence.EventRevoke, Reason: "骗领撤销"}}, licence.StatusRevoked, "now revoked (status 03)"},
			{"withdrawn", []licence.Change{{Event: licence.EventRevoke, Reason: "吊销", Withdraw: true}}, licence.StatusWithdrawn, "now revoked as a penalty (status 07)"},
			{"suspended", []licence.Change{{Event: licence.EventSuspend, Reason: "涉案暂扣"}}, licence.StatusSuspended, "now suspended (status 02)"},
			{"cancelled", []licence.Change{{Event: licence.EventCancel, Reason: "死亡注销"}}, licence.StatusCancelled, "now cancelled (status 04)"},
			{"amended then revoked", []licence.Change{{Event: licence.EventAmend, Reason: "住址变更", Face: map[string]string{"address": "湖北省襄阳市樊城区长征路2号"}},
				{Event: licence.EventRevoke, Reason: "骗领撤销"}}, licence.StatusRevoked, "now revoked (status 03)"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, l := stale(t, f.idCard(person()), tc.cs...)
				if c.Status != tc.want || c.StatusName != tc.want.Name() || !strings.Contains(c.Reason, tc.words) || strings.Contains(c.Reason, "fresh code") {
					t.Fatalf("status now: %+v", c)
				}
				if c.Licence == nil || c.LicenceID() != l.ID || strings.Contains(c.Licence.ID, l.Holder.ID[6:14]) || c.Licence.Status != tc.want || c.Licence.StatusName != tc.want.Name() ||
					c.Licence.HolderName != "张**" || strings.Contains(c.Licence.HolderID, l.Holder.ID[6:14]) {
					t.Fatalf("licence now: %+v", c.Licence)
				}
			})
		}
		// Still 有效 after the change: no data, the code is out of date.
		for _, tc := range []struct {
			name string
			cs   []licence.Change
		}{
			{"amended", []licence.Change{{Event: licence.EventAmend, Reason: "住址变更", Face: map[string]string{"address": "湖北省襄阳市樊城区长征路2号"}}}},
			{"renewed", []licence.Change{{Event: licence.EventRenew, Reason: "到期换领", ValidUntil: "2045-04-30"}}},
			{"suspended and returned", []licence.Change{{Event: licence.EventSuspend, Reason: "涉案暂扣"}, {Event: licence.EventReturn, Reason: "案件办结发还"}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, _ := stale(t, f.idCard(person()), tc.cs...)
				if c.Licence != nil || c.Status != "" || c.StatusName != "" || !strings.Contains(c.Reason, "ask the holder to show a fresh code") {
					t.Fatalf("stale code of a valid licence: %+v", c)
				}
			})
		}
		// Expired since: the code was made at noon (China time) on the
		// licence's last day, the licence was amended, and the code is
		// opened at 1 am the next day, within its 24 hours.
		t.Run("expired", func(t *testing.T) {
			defer f.offset.Store(0)
			y, m, d := time.Now().In(cst).Date()
			noon := time.Date(y, m, d, 12, 0, 0, 0, cst)
			f.offset.Store(int64(time.Until(noon)))
			n := f.idCard(person())
			n.ValidUntil = noon.Format(time.DateOnly)
			l := mustIssue(t, f, n)
			qr, err := f.svc.IssueQR(ctx, &l, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			l = change(t, l, licence.Change{Event: licence.EventAmend, Reason: "住址变更", Face: map[string]string{"address": "湖北省襄阳市樊城区长征路2号"}})
			f.offset.Store(int64(time.Until(noon.Add(13 * time.Hour))))
			c, err := f.svc.CheckQR(ctx, qr.Token)
			if err != nil || c.Outcome != licence.OutcomeSuperseded || c.Status != licence.StatusExpired || c.Licence == nil ||
				c.Licence.Status != licence.StatusExpired || c.LicenceID() != l.ID || strings.Contains(c.Licence.ID, l.Holder.ID[6:14]) || !strings.Contains(c.Reason, "now expired (status 05)") {
				t.Fatalf("stale code of an expired licence: %+v %v", c, err)
			}
		})
	})
}

var cst = time.FixedZone("CST", 8*3600)

// A licence numbered by its holder's id (as a 居民身份证 is) does not show
// that id on the public page through its number.
func TestQRMasksTheHolderIDInTheNumber(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		id := person()
		n := f.idCard(id)
		n.Number = id
		l := mustIssue(t, f, n)
		other := mustIssue(t, f, f.idCard(person())) // numbered "ID" + its holder's id
		xid := person()
		for !strings.HasSuffix(xid, "X") {
			xid = person()
		}
		nx := f.idCard(xid)
		nx.Number = "No." + strings.ToLower(xid) // written with a small x
		lower := mustIssue(t, f, nx)
		for _, lic := range []licence.Licence{l, other, lower} {
			qr, err := f.svc.IssueQR(ctx, &lic, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			c, err := f.svc.CheckQR(ctx, qr.Token)
			if err != nil {
				t.Fatal(err)
			}
			if c.Licence == nil {
				t.Fatalf("check: %+v", c)
			}
			if strings.Contains(strings.ToUpper(c.Licence.Number), lic.Holder.ID) || !strings.Contains(c.Licence.Number, c.Licence.HolderID) {
				t.Fatalf("public number %q shows the holder id %s (masked %s)", c.Licence.Number, lic.Holder.ID, c.Licence.HolderID)
			}
		}
	})
}
