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
		// url.Error quotes the URL, secrets and all.
		return nil, fmt.Errorf("source url %s: does not parse", redactURL(spec.URL))
	}
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	// Redirects are followed within the upstream's server only: Go sends
	// Authorization on to the same host name at another port or scheme
	// (http too), and the hmac headers to any host, and what another
	// server answers would be loaded as the upstream's records.
	cc, then := *c, c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if to, from := origin(req.URL.String()), origin(via[0].URL.String()); to != from {
			return fmt.Errorf("redirected to %s, not followed: the job reads from %s only", clip(to, 200), from)
		}
		if then != nil {
			return then(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	r := &httpReader{client: &cc, spec: spec, base: u, req: req, page: 1}
	switch {
	case spec.Pagination == "page" && req.Checkpoint != "":
		if r.page, err = strconv.Atoi(req.Checkpoint); err != nil || r.page < 1 {
			return nil, fmt.Errorf("checkpoint %q is not a page number", req.Checkpoint)
		}
	case req.Checkpoint == cursorEnd:
		r.done = true
	default:
		r.token = req.Checkpoint
	}
	return r, nil
}

// cursorEnd is the checkpoint after the last page of cursor pagination.
// That was the empty next cursor, which also means "from the start": a
// run stopped between staging its last page and applying it read the
// whole source again when resumed, every record a duplicate of itself.
// No upstream token is a control character followed by "end".
const cursorEnd = "\x1fend"

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
	if string(bytes.TrimSpace(raw)) == "null" && r.req.Full && string(bytes.TrimSpace(doc[r.spec.TotalPath])) != "0" {
		// Upstreams answer HTTP 200 with {"code":500,"msg":"系统繁忙",
		// "records":null}: a full refresh taking that for "no records"
		// marked the whole dataset deleted. (Incremental runs take null
		// for no changes, as a Go upstream encodes an empty slice.)
		return Page{}, &SourceError{Position: pos, Err: fmt.Errorf("%q is null, not an array of records (an empty source answers [] or %q 0)", r.spec.RecordsPath, r.spec.TotalPath)}
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
		if len(recs) < r.spec.PageSize {
			// A short page ends the data, unless the upstream counts more:
			// then it serves fewer a page than asked (many cap page sizes),
			// and a full refresh ending here marked the rest deleted.
			// (Pages before this one were full, or reading had stopped.)
			if upTo := int64(r.page-1)*int64(r.spec.PageSize) + int64(len(recs)); p.Total > upTo {
				return Page{}, fmt.Errorf("%w: %s: %d records, fewer than page_size %d, yet the upstream counts %d in all: it seems to serve fewer records a page than asked: set page_size to what it serves",
					errStop, pos, len(recs), r.spec.PageSize, p.Total)
			}
			r.done = true
		}
		r.page++
		p.Checkpoint = strconv.Itoa(r.page)
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
			p.Checkpoint = cursorEnd
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
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactURL(ue.URL)
		}
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
		// The client's error quotes the URL it asked for: with a key in
		// its query, into the run's error and the logs.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactURL(ue.URL)
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
