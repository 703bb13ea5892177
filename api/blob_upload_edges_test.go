package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// An uploader who sends a form (curl -F file=@licence.pdf) instead of the
// raw body must not get a 201 for a "file" that is the form's envelope:
// its boundary lines and part headers around the bytes, under a key that is
// no file's SHA-256, with the media type multipart/form-data.
func TestBlobUploadRefusesFormEnvelope(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	file := []byte("%PDF-1.7 营业执照 " + strings.Repeat("x", 500))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "licence.pdf")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	mw.Close()
	r := h.Do(t, "POST", "/v1/blobs", h.Admin, body.Bytes(), "Content-Type: "+mw.FormDataContentType())
	if r.Status == 201 {
		t.Fatalf("a multipart form was stored as a blob: %s", r.Body)
	}
	pb := r.Want(t, 400).Problem(t)
	if !strings.Contains(fmt.Sprint(pb["errors"]), "Content-Type") || !strings.Contains(fmt.Sprint(pb["errors"]), "data-binary") {
		t.Errorf("problem %v does not point at Content-Type and say how to send the file", pb)
	}
	if _, err := h.Blobs.Stat(context.Background(), sha256Hex(body.Bytes())); !errs.Is(err, errs.KindNotFound) {
		t.Errorf("the envelope was stored: %v", err)
	}
}

// The media type is kept as sent, parameters included: a GBK CSV (what
// Excel in a Chinese locale writes) downloaded without its charset shows
// as mojibake.
func TestBlobUploadKeepsMediaTypeParameters(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	csv := []byte("\xd0\xd5\xc3\xfb,\xc9\xed\xb7\xdd\xd6\xa4\xba\xc5\r\n") // 姓名,身份证号 in GBK
	info := upload(t, h, h.Admin, csv, "Content-Type: text/csv; charset=GBK")
	if info.mediaType() != "text/csv; charset=GBK" {
		t.Fatalf("stored media type %q, want text/csv; charset=GBK", info.mediaType())
	}
	u, _ := url.Parse(link(t, h, h.Admin, info.Key, "ttl=60").URL)
	r := h.Do(t, "GET", u.RequestURI(), "", nil).Want(t, 200)
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=GBK" {
		t.Errorf("download Content-Type %q, want text/csv; charset=GBK", ct)
	}
	// Broken parameters on a good type: the type alone, as before.
	if got := upload(t, h, h.Admin, []byte("plain"), "Content-Type: text/plain; oops"); got.mediaType() != "text/plain" {
		t.Errorf("text/plain with a broken parameter stored as %q", got.mediaType())
	}
	// A form-encoded type is still curl's default, not the file's type.
	if got := upload(t, h, h.Admin, []byte("a=1"), "Content-Type: application/x-www-form-urlencoded; charset=utf-8"); got.mediaType() != "application/octet-stream" {
		t.Errorf("curl --data-binary default stored as %q", got.mediaType())
	}
}

// A body that breaks off (a malformed chunk, a connection cut mid-upload)
// is the client's fault: 400, not a 500 that pages the operators.
func TestBlobUploadCutShortIsBadRequest(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	u, err := url.Parse(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /v1/blobs HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/pdf\r\n"+
		"X-Request-ID: blob-cut-short\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n%%PDF-\r\nzz\r\n", u.Host, h.Admin)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("upload with a malformed chunk: %d %s; want 400 problem+json", resp.StatusCode, b)
	}
	if es := auditFor(t, h, "/v1/blobs", "blob-cut-short"); len(es) != 1 || es[0].Status != 400 {
		t.Errorf("audit of the cut-short upload: %+v", es)
	}
}
