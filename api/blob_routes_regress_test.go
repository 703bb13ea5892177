package api_test

// Regression tests for defects once found in the blob routes.

import (
	"mime"
	"net/url"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// Was: POST /v1/blobs answers with blob.Info's Go field names
// ({"Key","Size","MediaType","Created"}) because blob.Info has no json tags;
// every other response (and the rest of the API) uses snake_case.
func TestBlobUploadJSONNames(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	m := h.Do(t, "POST", "/v1/blobs", h.Admin, []byte("hello")).Want(t, 201).Map(t)
	for _, k := range []string{"key", "size", "media_type", "created_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("upload response %v has no %q", m, k)
		}
	}
}

// Was: the download's Content-Disposition is built with url.PathEscape,
// which leaves = : @ unescaped although an RFC 5987 ext-value allows only
// attr-chars (ALPHA DIGIT ! # $ & + - . ^ _ ` | ~) and %-escapes. A name
// such as "会议纪要 2026:01.pdf" or "x=y.pdf" yields a header that does not
// parse. blob.ContentDisposition (mime.FormatMediaType) gets it right.
func TestBlobContentDispositionSpecialChars(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	var info blobInfo
	h.Do(t, "POST", "/v1/blobs", h.Admin, []byte("%PDF special")).Want(t, 201).JSON(t, &info)
	for _, name := range []string{"报告;v2.pdf", "x=y.pdf", "会议纪要 2026:01.pdf", "a@b.pdf"} {
		l := link(t, h, h.Admin, info.Key, "ttl=60&name="+url.QueryEscape(name))
		resp := fetch(t, h, l.URL).Want(t, 200)
		cd := resp.Header.Get("Content-Disposition")
		_, params, err := mime.ParseMediaType(cd)
		if err != nil || params["filename"] != name {
			t.Errorf("name %q: Content-Disposition %q parses to %q (%v)", name, cd, params["filename"], err)
		}
	}
}
