package datasync

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPConnector reads an upstream JSON API page by page. A response is a
// JSON object whose RecordsPath member is an array of records, with an
// optional TotalPath count and, for cursor pagination, a NextPath token
// (empty or absent on the last page). Page pagination stops at the first
// page shorter than PageSize.
//
// Auth "bearer" sends Authorization: Bearer TOKEN. Auth "hmac" sends
// X-Key-Id, X-Timestamp (unix seconds) and X-Signature: hex
// HMAC-SHA256(TOKEN, METHOD "\n" REQUEST-URI "\n" TIMESTAMP).
type HTTPConnector struct {
	Client *http.Client
}

// Open starts reading at req.Checkpoint ("page N" number or cursor token).
func (h HTTPConnector) Open(_ context.Context, spec SourceSpec, req Request) (Reader, error) {
	u, err := url.Parse(spec.URL)
	if err != nil {
		return nil, fmt.Errorf("source url: %w", err)
	}
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	r := &httpReader{client: c, spec: spec, base: u, req: req, page: 1}
	if spec.Pagination == "page" && req.Checkpoint != "" {
		if r.page, err = strconv.Atoi(req.Checkpoint); err != nil || r.page < 1 {
			return nil, fmt.Errorf("checkpoint %q is not a page number", req.Checkpoint)
		}
	} else {
		r.token = req.Checkpoint
	}
	return r, nil
}

type httpReader struct {
	client *http.Client
	spec   SourceSpec
	base   *url.URL
	req    Request
	page   int
	token  string
	done   bool
	last   [sha256.Size]byte // the previous page's body, page pagination
}

func (r *httpReader) Close() error { return nil }

func (r *httpReader) Next(ctx context.Context) (Page, error) {
	if r.done {
		return Page{}, errDone
	}
	u := *r.base
	q := u.Query()
	q.Set(r.spec.SizeParam, strconv.Itoa(r.spec.PageSize))
	if r.req.Since != "" {
		q.Set(r.spec.SinceParam, r.req.Since)
	}
	pos := ""
	if r.spec.Pagination == "page" {
		q.Set(r.spec.PageParam, strconv.Itoa(r.page))
		pos = "page " + strconv.Itoa(r.page)
	} else {
		if r.token != "" {
			q.Set(r.spec.CursorParam, r.token)
		}
		pos = "page after cursor " + strconv.Quote(r.token)
	}
	u.RawQuery = q.Encode()
	body, status, err := r.get(ctx, &u)
	if err != nil {
		return Page{}, &SourceError{Position: pos, Status: status, Err: err}
	}
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return Page{}, &SourceError{Position: pos, Err: fmt.Errorf("malformed JSON: %v", err)}
	}
	raw, ok := doc[r.spec.RecordsPath]
	if !ok {
		return Page{}, &SourceError{Position: pos, Err: fmt.Errorf("response has no %q member", r.spec.RecordsPath)}
	}
	var recs []Record
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&recs); err != nil {
		return Page{}, &SourceError{Position: pos, Err: fmt.Errorf("%q is not an array of objects: %v", r.spec.RecordsPath, err)}
	}
	p := Page{Records: recs, Position: pos, Total: -1}
	if t, ok := doc[r.spec.TotalPath]; ok {
		if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			p.Total = n
		}
	}
	if r.spec.Pagination == "page" {
		// An upstream that ignores the page parameter answers the same
		// page forever: every row a duplicate, until the run's timeout.
		sum := sha256.Sum256(body)
		if len(recs) > 0 && sum == r.last {
			return Page{}, fmt.Errorf("%w: %s: the same records as the page before: the upstream does not seem to honour the page parameter %q", errStop, pos, r.spec.PageParam)
		}
		r.last = sum
		r.page++
		p.Checkpoint = strconv.Itoa(r.page)
		if len(recs) < r.spec.PageSize {
			r.done = true
		}
	} else {
		var next string
		if t, ok := doc[r.spec.NextPath]; ok && string(t) != "null" {
			if err := json.Unmarshal(t, &next); err != nil {
				return Page{}, &SourceError{Position: pos, Err: fmt.Errorf("%q is not a string", r.spec.NextPath)}
			}
		}
		if next != "" && next == r.token {
			return Page{}, fmt.Errorf("%w: %s: the upstream gave back the cursor it was sent as the next one: paging would never end (cursor parameter %q)", errStop, pos, r.spec.CursorParam)
		}
		r.token = next
		p.Checkpoint = next
		if next == "" {
			r.done = true
		}
	}
	return p, nil
}

// maxPageBytes bounds one upstream response.
const maxPageBytes = 256 << 20

func (r *httpReader) get(ctx context.Context, u *url.URL) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.spec.RequestTimeout))
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, err
	}
	hr.Header.Set("Accept", "application/json")
	switch r.spec.Auth {
	case "bearer":
		hr.Header.Set("Authorization", "Bearer "+r.spec.Token)
	case "hmac":
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		hr.Header.Set("X-Key-Id", r.spec.KeyID)
		hr.Header.Set("X-Timestamp", ts)
		hr.Header.Set("X-Signature", SignHMAC(r.spec.Token, http.MethodGet, u.RequestURI(), ts))
	}
	resp, err := r.client.Do(hr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, 0, fmt.Errorf("timed out after %s", time.Duration(r.spec.RequestTimeout))
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("timed out after %s reading the body", time.Duration(r.spec.RequestTimeout))
		}
		return nil, 0, fmt.Errorf("reading the body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, fmt.Errorf("%s", strings.TrimSpace(string(clipBytes(body, 200))))
	}
	if len(body) > maxPageBytes {
		return nil, 0, fmt.Errorf("page larger than %d bytes", maxPageBytes)
	}
	return body, 0, nil
}

// SignHMAC is the signature of the "hmac" auth scheme.
func SignHMAC(secret, method, requestURI, ts string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + "\n" + requestURI + "\n" + ts))
	return hex.EncodeToString(m.Sum(nil))
}

func clipBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
