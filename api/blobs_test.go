package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// blobInfo is the upload response. Field names are matched
// case-insensitively; the media type is accepted as media_type or MediaType.
type blobInfo struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	GoName    string `json:"MediaType"`
}

func (b blobInfo) mediaType() string {
	if b.MediaType != "" {
		return b.MediaType
	}
	return b.GoName
}

type blobLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// roleKey makes a principal with one role in the data bureau and returns its key.
func roleKey(t *testing.T, h *hubtest.Hub, role exchange.Role) string {
	t.Helper()
	ctx := context.Background()
	p, err := h.Exchange.CreatePrincipal(ctx, exchange.NewPrincipal{DepartmentID: h.Demo.Keys[0].Department, Name: "blob-" + string(role) + "-" + hex.EncodeToString(randomBytes(t, 4)), Roles: []exchange.Role{role}})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := h.Exchange.CreateKey(ctx, p.ID, "blob test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// fetch GETs an absolute URL without credentials.
func fetch(t *testing.T, h *hubtest.Hub, u string, headers ...string) *hubtest.Response {
	t.Helper()
	if !strings.HasPrefix(u, h.URL+"/") {
		t.Fatalf("link %q is not under the hub's URL %s", u, h.URL)
	}
	return h.Do(t, "GET", strings.TrimPrefix(u, h.URL), "", nil, headers...)
}

// auditFor returns the entries with a request id.
func auditFor(t *testing.T, h *hubtest.Hub, route, requestID string) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	f := audit.Filter{Route: route, Limit: 1000}
	for {
		es, next, err := h.Audit.Search(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.RequestID == requestID {
				out = append(out, e)
			}
		}
		if next == "" {
			return out
		}
		f.Cursor = next
	}
}

func upload(t *testing.T, h *hubtest.Hub, key string, content []byte, headers ...string) blobInfo {
	t.Helper()
	var info blobInfo
	h.Do(t, "POST", "/v1/blobs", key, content, headers...).Want(t, 201).JSON(t, &info)
	return info
}

func link(t *testing.T, h *hubtest.Hub, key, blobKey string, query string) blobLink {
	t.Helper()
	var l blobLink
	h.Do(t, "POST", "/v1/blobs/"+blobKey+"/link?"+query, key, nil).Want(t, 200).JSON(t, &l)
	return l
}

func TestBlobs(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := hubtest.Start(t, b)
			t.Run("upload", func(t *testing.T) { testBlobUpload(t, h) })
			t.Run("links", func(t *testing.T) { testBlobLinks(t, h) })
		})
	}
}

func testBlobUpload(t *testing.T, h *hubtest.Hub) {
	content := append([]byte("襄阳市政务数据共享报告 "), randomBytes(t, 10000)...)
	want := sha256Hex(content)

	// Admins, importers and issuers may upload; the key is the SHA-256.
	info := upload(t, h, h.Admin, content, "Content-Type: application/pdf", "X-Request-ID: blob-up-"+string(h.DB.Dialect))
	if info.Key != want || info.Size != int64(len(content)) || info.mediaType() != "application/pdf" {
		t.Fatalf("upload = %+v; want key %s size %d application/pdf", info, want, len(content))
	}
	es := auditFor(t, h, "/v1/blobs", "blob-up-"+string(h.DB.Dialect))
	if len(es) != 1 || es[0].Status != 201 || !slices.Contains(es[0].Resources, "blob:"+want) {
		t.Fatalf("audit of the upload: %+v", es)
	}
	// Storing the same bytes again yields the same key; the first media type stays.
	importer := roleKey(t, h, exchange.RoleImporter)
	if again := upload(t, h, importer, content, "Content-Type: text/plain"); again.Key != want || again.mediaType() != "application/pdf" {
		t.Fatalf("second upload of the same bytes = %+v", again)
	}
	issuer := roleKey(t, h, exchange.RoleIssuer)
	other := randomBytes(t, 3000)
	if got := upload(t, h, issuer, other); got.Key != sha256Hex(other) || got.mediaType() != "application/octet-stream" {
		t.Fatalf("issuer upload = %+v", got)
	}
	// An empty file is a file too.
	if got := upload(t, h, h.Admin, []byte{}); got.Key != sha256Hex(nil) || got.Size != 0 {
		t.Fatalf("empty upload = %+v", got)
	}
	// The stored bytes are the uploaded ones.
	rc, _, err := h.Blobs.Get(context.Background(), want)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(stored, content) {
		t.Fatal("stored bytes differ from the upload")
	}

	// Other roles may not; without a key, 401.
	forbidden := randomBytes(t, 100)
	for _, key := range []string{h.AppKey, h.Auditor, roleKey(t, h, exchange.RoleDataAdmin)} {
		pb := h.Do(t, "POST", "/v1/blobs", key, forbidden).Want(t, 403).Problem(t)
		if d := fmt.Sprint(pb["detail"]); !strings.Contains(d, "admin") || !strings.Contains(d, "importer") || !strings.Contains(d, "issuer") {
			t.Errorf("403 detail %q does not name the roles", d)
		}
	}
	h.Do(t, "POST", "/v1/blobs", "", forbidden).Want(t, 401).Problem(t)
	if _, err := h.Blobs.Stat(context.Background(), sha256Hex(forbidden)); !errs.Is(err, errs.KindNotFound) {
		t.Fatalf("a refused upload was stored: %v", err)
	}
	// A malformed media type is refused.
	h.Do(t, "POST", "/v1/blobs", h.Admin, randomBytes(t, 10), "Content-Type: not a type").Want(t, 400).Problem(t)
}

func testBlobLinks(t *testing.T, h *hubtest.Hub) {
	ctx := context.Background()
	content := append([]byte("%PDF-1.7 襄阳 "), randomBytes(t, 5000)...)
	key := upload(t, h, h.Admin, content, "Content-Type: application/pdf").Key

	// A link with a Chinese file name; the download needs no key.
	before := time.Now()
	l := link(t, h, h.Admin, key, "ttl=60&name="+url.QueryEscape("报告.pdf"))
	if !strings.HasPrefix(l.URL, h.URL+"/v1/blobs/"+key+"?") {
		t.Fatalf("link URL %q", l.URL)
	}
	if l.ExpiresAt.Before(before.Add(58*time.Second)) || l.ExpiresAt.After(time.Now().Add(62*time.Second)) {
		t.Errorf("expires_at %v is not about 60s from now", l.ExpiresAt)
	}
	rid := "blob-dl-" + string(h.DB.Dialect)
	resp := fetch(t, h, l.URL, "X-Request-ID: "+rid).Want(t, 200)
	if !bytes.Equal(resp.Body, content) {
		t.Fatalf("downloaded %d bytes, not the %d uploaded", len(resp.Body), len(content))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type %q", ct)
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(content)) {
		t.Errorf("Content-Length %q", cl)
	}
	cd := resp.Header.Get("Content-Disposition")
	disp, params, err := mime.ParseMediaType(cd)
	if err != nil || disp != "attachment" || params["filename"] != "报告.pdf" {
		t.Errorf("Content-Disposition %q parses as %q %v (%v); want attachment, 报告.pdf", cd, disp, params, err)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("download without X-Content-Type-Options: nosniff")
	}
	// The download is in the audit log, with the blob it served.
	es := auditFor(t, h, "/v1/blobs/:key", rid)
	if len(es) != 1 || es[0].Status != 200 || es[0].Method != "GET" || !slices.Contains(es[0].Resources, "blob:"+key) || es[0].PrincipalID != "" {
		t.Fatalf("audit entries of the download: %+v", es)
	}

	// Without a name: no Content-Disposition file name; the link still works twice.
	plain := link(t, h, roleKey(t, h, exchange.RoleImporter), key, "")
	for i := 0; i < 2; i++ {
		r := fetch(t, h, plain.URL).Want(t, 200)
		if !bytes.Equal(r.Body, content) || strings.Contains(r.Header.Get("Content-Disposition"), "filename") {
			t.Fatalf("unnamed link: %d bytes, Content-Disposition %q", len(r.Body), r.Header.Get("Content-Disposition"))
		}
	}

	// Tampering with any part of the link is refused, and audited.
	u, err := url.Parse(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	other := upload(t, h, h.Admin, randomBytes(t, 200)).Key
	tamper := func(name string, mod func(path *string, q url.Values)) {
		t.Run("tampered "+name, func(t *testing.T) {
			path := u.Path
			qq := url.Values{}
			for k, v := range q {
				qq[k] = slices.Clone(v)
			}
			mod(&path, qq)
			rid := "blob-tamper-" + strings.ReplaceAll(name, " ", "-") + "-" + string(h.DB.Dialect)
			pb := h.Do(t, "GET", path+"?"+qq.Encode(), "", nil, "X-Request-ID: "+rid).Want(t, 403).Problem(t)
			if !strings.Contains(fmt.Sprint(pb["detail"]), "not valid") {
				t.Errorf("detail %q", pb["detail"])
			}
			if es := auditFor(t, h, "/v1/blobs/:key", rid); len(es) != 1 || es[0].Status != 403 {
				t.Errorf("audit of the refused download: %+v", es)
			}
		})
	}
	flip := func(s string) string {
		c := "0"
		if s[0] == '0' {
			c = "1"
		}
		return c + s[1:]
	}
	tamper("sig", func(_ *string, q url.Values) { q.Set("sig", flip(q.Get("sig"))) })
	tamper("sig truncated", func(_ *string, q url.Values) { q.Set("sig", q.Get("sig")[:32]) })
	tamper("sig not hex", func(_ *string, q url.Values) { q.Set("sig", "zz"+q.Get("sig")[2:]) })
	tamper("no sig", func(_ *string, q url.Values) { q.Del("sig") })
	tamper("name", func(_ *string, q url.Values) { q.Set("name", "报告.exe") })
	tamper("no name", func(_ *string, q url.Values) { q.Del("name") })
	tamper("exp", func(_ *string, q url.Values) {
		exp, _ := strconv.ParseInt(q.Get("exp"), 10, 64)
		q.Set("exp", strconv.FormatInt(exp+86400, 10))
	})
	tamper("key", func(p *string, _ url.Values) { *p = "/v1/blobs/" + other })

	// A malformed exp or key is a bad request.
	bad := url.Values{"exp": {"soon"}, "sig": {q.Get("sig")}}
	h.Do(t, "GET", "/v1/blobs/"+key+"?"+bad.Encode(), "", nil).Want(t, 400).Problem(t)
	h.Do(t, "GET", "/v1/blobs/"+key+"?sig="+q.Get("sig"), "", nil).Want(t, 400).Problem(t)
	// A key that is a path escape does not reach any file.
	if r := h.Do(t, "GET", "/v1/blobs/..%2F..%2Fmaster.key?"+q.Encode(), "", nil); r.Status != 400 && r.Status != 404 {
		t.Errorf("path-escape key: %d %s", r.Status, r.Body)
	}
	for _, badKey := range []string{"not-a-key", strings.ToUpper(key), key[:63], key + "0", "..." + key[3:]} {
		pb := h.Do(t, "GET", "/v1/blobs/"+badKey+"?"+q.Encode(), "", nil).Want(t, 400).Problem(t)
		if !strings.Contains(fmt.Sprint(pb["detail"]), "blob key") {
			t.Errorf("key %q: detail %q", badKey, pb["detail"])
		}
		h.Do(t, "POST", "/v1/blobs/"+badKey+"/link", h.Admin, nil).Want(t, 400).Problem(t)
	}

	// Links to missing blobs: refused when made; 404 when the blob went away.
	h.Do(t, "POST", "/v1/blobs/"+sha256Hex([]byte("never uploaded"))+"/link", h.Admin, nil).Want(t, 404).Problem(t)
	gone := randomBytes(t, 100)
	goneKey := upload(t, h, h.Admin, gone).Key
	goneLink := link(t, h, h.Admin, goneKey, "ttl=600")
	if err := h.Blobs.Delete(ctx, goneKey); err != nil {
		t.Fatal(err)
	}
	fetch(t, h, goneLink.URL).Want(t, 404).Problem(t)

	// Link parameters and roles.
	for _, ttl := range []string{"0", "-5", "86401", "soon", "1.5"} {
		pb := h.Do(t, "POST", "/v1/blobs/"+key+"/link?ttl="+ttl, h.Admin, nil).Want(t, 400).Problem(t)
		if !strings.Contains(fmt.Sprint(pb["errors"]), "?ttl") {
			t.Errorf("ttl=%s: errors %v do not point at ?ttl", ttl, pb["errors"])
		}
	}
	h.Do(t, "POST", "/v1/blobs/"+key+"/link?name="+url.QueryEscape("../etc/passwd"), h.Admin, nil).Want(t, 400).Problem(t)
	h.Do(t, "POST", "/v1/blobs/"+key+"/link?ttl=86400", h.Admin, nil).Want(t, 200)
	h.Do(t, "POST", "/v1/blobs/"+key+"/link", h.AppKey, nil).Want(t, 403).Problem(t)
	h.Do(t, "POST", "/v1/blobs/"+key+"/link", h.Auditor, nil).Want(t, 403).Problem(t)
	h.Do(t, "POST", "/v1/blobs/"+key+"/link", "", nil).Want(t, 401).Problem(t)
}

// TestBlobLinkExpires: a one-second link works at once and is refused once
// its expiry has passed.
func TestBlobLinkExpires(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	content := randomBytes(t, 500)
	key := upload(t, h, h.Admin, content).Key
	l := link(t, h, h.Admin, key, "ttl=1")
	u, err := url.Parse(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := strconv.ParseInt(u.Query().Get("exp"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Unix(exp, 0).Sub(time.Now()); d < 0 || d > 2*time.Second {
		t.Fatalf("a 1s link expires in %s", d)
	}
	fetch(t, h, l.URL).Want(t, 200)
	time.Sleep(time.Until(time.Unix(exp, 0).Add(1100 * time.Millisecond)))
	pb := fetch(t, h, l.URL, "X-Request-ID: blob-expired").Want(t, 403).Problem(t)
	if !strings.Contains(fmt.Sprint(pb["detail"]), "expired") {
		t.Errorf("detail %q does not say expired", pb["detail"])
	}
	if es := auditFor(t, h, "/v1/blobs/:key", "blob-expired"); len(es) != 1 || es[0].Status != 403 || !slices.Contains(es[0].Resources, "blob:"+key) {
		t.Errorf("audit of the expired download: %+v", es)
	}
}

// TestBlobUploadLimit: uploads over --max-upload are refused with 413,
// with or without a Content-Length, and leave nothing behind.
func TestBlobUploadLimit(t *testing.T) {
	const limit = 2048
	h := hubtest.Start(t, dbtest.Backends[0], func(c *hub.Config) { c.MaxUpload = limit })

	exact := randomBytes(t, limit)
	if got := upload(t, h, h.Admin, exact); got.Size != limit {
		t.Fatalf("upload of exactly the limit = %+v", got)
	}
	over := randomBytes(t, limit+1)
	pb := h.Do(t, "POST", "/v1/blobs", h.Admin, over, "X-Request-ID: blob-413").Want(t, 413).Problem(t)
	if !strings.Contains(fmt.Sprint(pb["detail"]), strconv.Itoa(limit)) {
		t.Errorf("413 detail %q does not give the limit", pb["detail"])
	}
	if es := auditFor(t, h, "/v1/blobs", "blob-413"); len(es) != 1 || es[0].Status != 413 {
		t.Errorf("audit of the refused upload: %+v", es)
	}

	// Chunked: the size is only found out while reading.
	big := randomBytes(t, 64<<10)
	req, err := http.NewRequest("POST", h.URL+"/v1/blobs", io.MultiReader(bytes.NewReader(big[:1000]), bytes.NewReader(big[1000:])))
	if err != nil {
		t.Fatal(err)
	}
	if req.ContentLength != 0 {
		t.Fatalf("request has a Content-Length %d", req.ContentLength)
	}
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+h.Admin)
	resp, err := h.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("chunked oversize upload: %d %s", resp.StatusCode, body)
	}
	for _, b := range [][]byte{over, big} {
		if _, err := h.Blobs.Stat(context.Background(), sha256Hex(b)); !errs.Is(err, errs.KindNotFound) {
			t.Errorf("an oversize upload was stored: %v", err)
		}
	}
	// No temp files are left behind.
	m, _ := filepath.Glob(filepath.Join(h.Config.DataDir, "blobs", ".tmp", "*"))
	if len(m) != 0 {
		t.Errorf("temp files left behind: %v", m)
	}
	// Uploads within the limit still work.
	if got := upload(t, h, h.Admin, randomBytes(t, 1500)); got.Size != 1500 {
		t.Fatalf("upload after refusals = %+v", got)
	}
}

// A stored file cannot act on the hub's origin, where the console lives:
// HTML or SVG from an uploader comes as a sandboxed attachment; a PDF or
// a picture opens in place.
func TestBlobDownloadCannotScript(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	importer := roleKey(t, h, exchange.RoleImporter)
	for _, tc := range []struct {
		mediaType, body     string
		attachment, sandbox bool
	}{
		{"text/html; charset=utf-8", `<script>fetch("/console/")</script>`, true, true},
		{"image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`, true, true},
		{"application/xhtml+xml", `<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>`, true, true},
		{"application/octet-stream", "\x00\x01", true, true},
		{"application/pdf", "%PDF-1.7 x", false, false},
		{"image/png", "\x89PNG\r\n\x1a\nx", false, true},
		{"text/plain; charset=utf-8", "<script>alert(1)</script>", false, true},
	} {
		key := upload(t, h, importer, []byte(tc.body+" "+tc.mediaType), "Content-Type: "+tc.mediaType).Key
		u, _ := url.Parse(link(t, h, importer, key, "ttl=60").URL)
		r := h.Do(t, "GET", u.RequestURI(), "", nil).Want(t, 200)
		cd, csp := r.Header.Get("Content-Disposition"), r.Header.Get("Content-Security-Policy")
		if strings.HasPrefix(cd, "attachment") != tc.attachment || strings.Contains(csp, "sandbox") != tc.sandbox ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: Content-Disposition %q, Content-Security-Policy %q, nosniff %q", tc.mediaType, cd, csp, r.Header.Get("X-Content-Type-Options"))
		}
	}
}

// On S3 the object store serves the file, not the hub: a link to a type a
// browser would run comes as an attachment there too.
func TestBlobS3LinkOfActiveTypeIsAttachment(t *testing.T) {
	opt, _ := hubtest.S3Blobs(t)
	masterKey := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(masterKey, []byte(strings.Repeat("cd", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	h := hubtest.Start(t, dbtest.Backends[0], opt, func(c *hub.Config) { c.MasterKeyFile = masterKey })
	importer := roleKey(t, h, exchange.RoleImporter)
	for mediaType, attachment := range map[string]bool{"text/html": true, "image/svg+xml": true, "image/png": false} {
		key := upload(t, h, importer, []byte("<svg><script>alert(1)</script></svg> "+mediaType), "Content-Type: "+mediaType).Key
		l := link(t, h, importer, key, "ttl=60")
		if strings.HasPrefix(l.URL, h.URL) {
			t.Fatalf("not an S3 link: %s", l.URL)
		}
		resp, err := http.Get(l.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if cd := resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 || strings.HasPrefix(cd, "attachment") != attachment {
			t.Errorf("%s: %s, Content-Disposition %q", mediaType, resp.Status, cd)
		}
	}
}
