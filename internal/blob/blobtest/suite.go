package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// LinkHandler serves local download links the way the hub's HTTP layer
// must: check the link with blob.VerifyLink, then stream the object with
// its media type and a Content-Disposition for the name in the link.
func LinkHandler(secret []byte, store func() blob.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.URL.Path, blob.LinkPath)
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
		if err != nil {
			http.Error(w, "bad link", http.StatusForbidden)
			return
		}
		name := q.Get("name")
		if err := blob.VerifyLink(secret, key, exp, name, q.Get("sig"), time.Now()); err != nil {
			http.Error(w, err.Error(), statusOf(err))
			return
		}
		rc, info, err := store().Get(r.Context(), key)
		if err != nil {
			http.Error(w, err.Error(), statusOf(err))
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", info.MediaType)
		w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
		w.Header().Set("Content-Disposition", blob.ContentDisposition(name))
		_, _ = io.Copy(w, rc)
	})
}

func statusOf(err error) int {
	switch errs.KindOf(err) {
	case errs.KindNotFound:
		return http.StatusNotFound
	case errs.KindInvalid:
		return http.StatusBadRequest
	case errs.KindForbidden:
		return http.StatusForbidden
	case errs.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fixture is one fresh store plus a link server for local links.
type fixture struct {
	s    blob.Store
	list func() []string
	ctx  context.Context
}

func newFixture(t *testing.T, b Backend, opts blob.Options) *fixture {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	var cur atomic.Value // blob.Store, set once the store is open
	srv := httptest.NewServer(LinkHandler(secret, func() blob.Store { return cur.Load().(blob.Store) }))
	t.Cleanup(srv.Close)
	opts.LinkSecret = secret
	opts.LinkBaseURL = srv.URL
	s, list := b.New(t, opts)
	cur.Store(s)
	return &fixture{s: s, list: list, ctx: context.Background()}
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func wantKind(t *testing.T, what string, err error, k errs.Kind) {
	t.Helper()
	if !errs.Is(err, k) {
		t.Errorf("%s: got error %v (kind %s), want kind %s", what, err, errs.KindOf(err), k)
	}
}

func sameInfo(t *testing.T, what string, got, want blob.Info) {
	t.Helper()
	if got.Key != want.Key || got.Size != want.Size || got.MediaType != want.MediaType || !got.Created.Equal(want.Created) {
		t.Errorf("%s: got %+v, want %+v", what, got, want)
	}
}

func (f *fixture) put(t *testing.T, data []byte, mt string) blob.Info {
	t.Helper()
	info, err := f.s.Put(f.ctx, bytes.NewReader(data), mt)
	if err != nil {
		t.Fatalf("Put(%d bytes, %q): %v", len(data), mt, err)
	}
	return info
}

func (f *fixture) read(t *testing.T, key string) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := f.s.Get(f.ctx, key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%s): read: %v", key, err)
	}
	return data, info
}

func (f *fixture) wantList(t *testing.T, what string, want []string) {
	t.Helper()
	got := f.list()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: store holds %q, want %q", what, got, want)
	}
}

// Exercise runs the conformance suite against b. Every blob.Store must pass.
func Exercise(t *testing.T, b Backend) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		cases := []struct {
			name string
			data []byte
			mt   string
			want string
		}{
			{"text", []byte("营业执照 licence file\n"), "text/plain; charset=utf-8", "text/plain; charset=utf-8"},
			{"empty", nil, "application/octet-stream", "application/octet-stream"},
			{"default-type", []byte("{}"), "", blob.DefaultMediaType},
			{"3MiB", randomBytes(3<<20 + 17), "application/pdf", "application/pdf"},
		}
		for _, c := range cases {
			before := time.Now()
			info := f.put(t, c.data, c.mt)
			after := time.Now()
			want := blob.Info{Key: sum(c.data), Size: int64(len(c.data)), MediaType: c.want}
			if info.Key != want.Key || info.Size != want.Size || info.MediaType != want.MediaType {
				t.Errorf("%s: Put = %+v, want %+v", c.name, info, want)
			}
			// S3 keeps whole seconds; allow that plus a little clock skew.
			if info.Created.Before(before.Add(-2*time.Second)) || info.Created.After(after.Add(2*time.Second)) {
				t.Errorf("%s: Created %s not within [%s, %s]", c.name, info.Created, before, after)
			}
			if info.Created.Location() != time.UTC {
				t.Errorf("%s: Created %s is not UTC", c.name, info.Created)
			}
			data, gi := f.read(t, info.Key)
			if !bytes.Equal(data, c.data) {
				t.Errorf("%s: Get returned %d bytes, want %d (same content)", c.name, len(data), len(c.data))
			}
			sameInfo(t, c.name+": Get info", gi, info)
			st, err := f.s.Stat(f.ctx, info.Key)
			if err != nil {
				t.Fatalf("%s: Stat: %v", c.name, err)
			}
			sameInfo(t, c.name+": Stat", st, info)
		}
	})

	t.Run("StreamingReader", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		data := randomBytes(100 << 10)
		// A reader that is neither seekable nor sized, one byte at a time.
		info, err := f.s.Put(f.ctx, iotest.OneByteReader(bytes.NewReader(data)), "application/octet-stream")
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		if info.Key != sum(data) || info.Size != int64(len(data)) {
			t.Errorf("Put = %+v, want key %s size %d", info, sum(data), len(data))
		}
		got, _ := f.read(t, info.Key)
		if !bytes.Equal(got, data) {
			t.Error("Get returned different content")
		}
	})

	t.Run("BadMediaType", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		for _, mt := range []string{"not a media type", "text/", "/plain", "text/plain; charset", strings.Repeat("a", 300) + "/x"} {
			_, err := f.s.Put(f.ctx, strings.NewReader("x"), mt)
			wantKind(t, fmt.Sprintf("Put(media type %.20q)", mt), err, errs.KindInvalid)
		}
		f.wantList(t, "after rejected Puts", nil)
	})

	t.Run("SameContentOneObject", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		data := []byte("same bytes, same key")
		first := f.put(t, data, "application/pdf")
		after1 := f.list()
		if len(after1) == 0 {
			t.Fatal("store lists nothing after a Put")
		}
		time.Sleep(1100 * time.Millisecond) // a rewrite would change Created
		second := f.put(t, data, "text/plain")
		sameInfo(t, "second Put of the same content (first media type and time win)", second, first)
		f.wantList(t, "after the second Put", after1)
	})

	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		key := sum([]byte("never stored"))
		_, _, err := f.s.Get(f.ctx, key)
		wantKind(t, "Get(missing)", err, errs.KindNotFound)
		_, err = f.s.Stat(f.ctx, key)
		wantKind(t, "Stat(missing)", err, errs.KindNotFound)
		err = f.s.Delete(f.ctx, key)
		wantKind(t, "Delete(missing)", err, errs.KindNotFound)
		_, err = f.s.Link(f.ctx, key, time.Minute, "x.pdf")
		wantKind(t, "Link(missing)", err, errs.KindNotFound)
	})

	t.Run("BadKeys", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		good := f.put(t, []byte("x"), "").Key
		bad := []string{
			"../etc/passwd",
			"ABC",
			"",
			strings.ToUpper(good),
			good[:63],
			good + "0",
			"../../" + good[6:],
			good[:62] + "/x",
			good[:63] + "g",
			good[:63] + "\x00",
		}
		for _, k := range bad {
			_, _, err := f.s.Get(f.ctx, k)
			wantKind(t, fmt.Sprintf("Get(%q)", k), err, errs.KindInvalid)
			_, err = f.s.Stat(f.ctx, k)
			wantKind(t, fmt.Sprintf("Stat(%q)", k), err, errs.KindInvalid)
			err = f.s.Delete(f.ctx, k)
			wantKind(t, fmt.Sprintf("Delete(%q)", k), err, errs.KindInvalid)
			_, err = f.s.Link(f.ctx, k, time.Minute, "")
			wantKind(t, fmt.Sprintf("Link(%q)", k), err, errs.KindInvalid)
		}
		if _, err := f.s.Stat(f.ctx, good); err != nil {
			t.Errorf("the good key is gone after bad-key calls: %v", err)
		}
	})

	t.Run("TooLarge", func(t *testing.T) {
		t.Parallel()
		const max = 1000
		f := newFixture(t, b, blob.Options{MaxSize: max})
		exact := randomBytes(max)
		info := f.put(t, exact, "")
		if info.Size != max {
			t.Errorf("Put of exactly MaxSize: size %d", info.Size)
		}
		want := f.list()

		_, err := f.s.Put(f.ctx, bytes.NewReader(randomBytes(max+1)), "")
		wantKind(t, "Put(MaxSize+1 bytes)", err, errs.KindTooLarge)
		// An endless stream must be cut off, not read to the end.
		_, err = f.s.Put(f.ctx, endless{}, "")
		wantKind(t, "Put(endless stream)", err, errs.KindTooLarge)
		// Over the limit by content whose first MaxSize bytes are stored.
		_, err = f.s.Put(f.ctx, io.MultiReader(bytes.NewReader(exact), strings.NewReader("!")), "")
		wantKind(t, "Put(stored content + 1 byte)", err, errs.KindTooLarge)
		f.wantList(t, "after TooLarge", want)
	})

	t.Run("DefaultMaxSize", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		_, err := f.s.Put(f.ctx, io.LimitReader(endless{}, blob.DefaultMaxSize+1), "")
		wantKind(t, "Put(64 MiB + 1)", err, errs.KindTooLarge)
		f.wantList(t, "after TooLarge", nil)
	})

	t.Run("ReaderError", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		boom := errors.New("client went away")
		_, err := f.s.Put(f.ctx, io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom)), "")
		if !errors.Is(err, boom) {
			t.Errorf("Put with failing reader: got %v, want it to wrap %v", err, boom)
		}
		f.wantList(t, "after reader error", nil)
	})

	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := f.s.Put(ctx, strings.NewReader("x"), "")
		if err == nil || !errors.Is(err, context.Canceled) {
			t.Errorf("Put with cancelled context: got %v, want context.Canceled", err)
		}
		ctx, cancel = context.WithCancel(context.Background())
		r := &cancelAfter{r: bytes.NewReader(randomBytes(1 << 20)), n: 4096, cancel: cancel}
		_, err = f.s.Put(ctx, r, "")
		if err == nil || !errors.Is(err, context.Canceled) {
			t.Errorf("Put cancelled mid-stream: got %v, want context.Canceled", err)
		}
		f.wantList(t, "after cancelled Puts", nil)
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		data := []byte("to be deleted")
		info := f.put(t, data, "text/plain")
		if err := f.s.Delete(f.ctx, info.Key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		_, err := f.s.Stat(f.ctx, info.Key)
		wantKind(t, "Stat after Delete", err, errs.KindNotFound)
		_, _, err = f.s.Get(f.ctx, info.Key)
		wantKind(t, "Get after Delete", err, errs.KindNotFound)
		err = f.s.Delete(f.ctx, info.Key)
		wantKind(t, "second Delete", err, errs.KindNotFound)
		f.wantList(t, "after Delete", nil)
		again := f.put(t, data, "application/json")
		if again.MediaType != "application/json" {
			t.Errorf("Put after Delete kept old metadata: %+v", again)
		}
		got, _ := f.read(t, again.Key)
		if !bytes.Equal(got, data) {
			t.Error("Put after Delete: different content")
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		same := randomBytes(256 << 10)
		const n = 16
		var wg sync.WaitGroup
		infos := make([]blob.Info, n)
		errsList := make([]error, n)
		distinct := make([][]byte, n)
		for i := range n {
			distinct[i] = randomBytes(10<<10 + i)
		}
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				infos[i], errsList[i] = f.s.Put(f.ctx, bytes.NewReader(same), "application/octet-stream")
			}()
			go func() {
				defer wg.Done()
				if _, err := f.s.Put(f.ctx, bytes.NewReader(distinct[i]), ""); err != nil {
					t.Errorf("concurrent Put of distinct content %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		for i := range n {
			if errsList[i] != nil {
				t.Fatalf("concurrent Put %d: %v", i, errsList[i])
			}
			if infos[i].Key != sum(same) || infos[i].Size != int64(len(same)) {
				t.Errorf("concurrent Put %d: %+v", i, infos[i])
			}
		}
		got, _ := f.read(t, sum(same))
		if !bytes.Equal(got, same) {
			t.Error("content differs after concurrent Puts")
		}
		for i := range n {
			got, _ := f.read(t, sum(distinct[i]))
			if !bytes.Equal(got, distinct[i]) {
				t.Errorf("distinct content %d differs", i)
			}
			if err := f.s.Delete(f.ctx, sum(distinct[i])); err != nil {
				t.Errorf("Delete distinct %d: %v", i, err)
			}
		}
		if err := f.s.Delete(f.ctx, sum(same)); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		f.wantList(t, "after deleting everything (no temp files left)", nil)
	})

	t.Run("Link", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		data := randomBytes(70 << 10)
		info := f.put(t, data, "application/pdf")
		name := "证照 2024 (副本).pdf"
		link, err := f.s.Link(f.ctx, info.Key, time.Minute, name)
		if err != nil {
			t.Fatalf("Link: %v", err)
		}
		resp, body := httpGet(t, link)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET link: %s: %s", resp.Status, body)
		}
		if !bytes.Equal(body, data) {
			t.Errorf("GET link: %d bytes, want the %d stored", len(body), len(data))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/pdf" {
			t.Errorf("GET link: Content-Type %q", ct)
		}
		cd := resp.Header.Get("Content-Disposition")
		if disp, params, err := mime.ParseMediaType(cd); err != nil || disp != "attachment" || params["filename"] != name {
			t.Errorf("GET link: Content-Disposition %q (parsed %q %q %v), want attachment for %q", cd, disp, params, err, name)
		}

		plain, err := f.s.Link(f.ctx, info.Key, 90*time.Second, "")
		if err != nil {
			t.Fatalf("Link without name: %v", err)
		}
		if resp, body := httpGet(t, plain); resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
			t.Errorf("GET link without name: %s, %d bytes", resp.Status, len(body))
		}

		// Any change to a signed parameter must be refused.
		u, _ := url.Parse(link)
		for _, p := range []string{"sig", "name", "exp", "X-Amz-Signature", "X-Amz-Expires", "X-Amz-Date", "response-content-disposition"} {
			q := u.Query()
			v, ok := q[p]
			if !ok {
				continue
			}
			q.Set(p, alter(v[0]))
			v2 := *u
			v2.RawQuery = q.Encode()
			if resp, body := httpGet(t, v2.String()); resp.StatusCode != http.StatusForbidden {
				t.Errorf("GET link with %s altered: %s (%s), want 403", p, resp.Status, bytes.TrimSpace(body))
			}
		}
		// Another key under the same signature.
		other := f.put(t, []byte("other"), "")
		swapped := strings.Replace(link, info.Key, other.Key, 1)
		if resp, _ := httpGet(t, swapped); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET link with another key: %s, want 403", resp.Status)
		}

		for _, ttl := range []time.Duration{0, -time.Second, blob.MaxLinkTTL + time.Second} {
			_, err := f.s.Link(f.ctx, info.Key, ttl, "")
			wantKind(t, fmt.Sprintf("Link(ttl %s)", ttl), err, errs.KindInvalid)
		}
		for _, n := range []string{"a/b.pdf", `a\b.pdf`, "..", "x\ny", "x\x00", strings.Repeat("x", 256)} {
			_, err := f.s.Link(f.ctx, info.Key, time.Minute, n)
			wantKind(t, fmt.Sprintf("Link(name %.20q)", n), err, errs.KindInvalid)
		}
	})

	t.Run("LinkExpires", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		info := f.put(t, []byte("short-lived"), "text/plain")
		// Two seconds: a presigned URL's date is in whole seconds, so a
		// one-second link signed late in a second could expire before
		// the first GET.
		link, err := f.s.Link(f.ctx, info.Key, 2*time.Second, "a.txt")
		if err != nil {
			t.Fatalf("Link: %v", err)
		}
		if resp, _ := httpGet(t, link); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET fresh link: %s", resp.Status)
		}
		time.Sleep(3500 * time.Millisecond)
		if resp, body := httpGet(t, link); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET expired link: %s (%s), want 403", resp.Status, bytes.TrimSpace(body))
		}
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, b, blob.Options{})
		if err := f.s.Ping(f.ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

// alter changes a query value in a way that keeps it well-formed.
func alter(v string) string {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return strconv.FormatInt(n+1, 10)
	}
	if strings.HasSuffix(v, "Z") && len(v) == 16 { // X-Amz-Date 20060102T150405Z
		if t, err := time.Parse("20060102T150405Z", v); err == nil {
			return t.Add(time.Second).Format("20060102T150405Z")
		}
	}
	if _, err := hex.DecodeString(v); err == nil && v != "" {
		last := v[len(v)-1]
		repl := byte('0')
		if last == '0' {
			repl = '1'
		}
		return v[:len(v)-1] + string(repl)
	}
	return v + "x"
}

func httpGet(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", u, err)
	}
	return resp, body
}

// endless is a reader that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	return len(p), nil
}

// cancelAfter cancels its context once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	read   int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.read >= c.n {
		c.cancel()
	}
	k, err := c.r.Read(p)
	c.read += k
	return k, err
}

// Benchmark measures Put and Get of 1 MiB objects on b.
func Benchmark(bb *testing.B, b Backend) {
	const size = 1 << 20
	bb.Run("Put1MiB", func(bb *testing.B) {
		s, _ := b.New(bb, blob.Options{})
		data := randomBytes(size)
		ctx := context.Background()
		bb.SetBytes(size)
		for i := 0; bb.Loop(); i++ {
			binary.BigEndian.PutUint64(data, uint64(i)) // new content: a real write
			if _, err := s.Put(ctx, bytes.NewReader(data), "application/octet-stream"); err != nil {
				bb.Fatal(err)
			}
		}
	})
	bb.Run("Get1MiB", func(bb *testing.B) {
		s, _ := b.New(bb, blob.Options{})
		ctx := context.Background()
		info, err := s.Put(ctx, bytes.NewReader(randomBytes(size)), "application/octet-stream")
		if err != nil {
			bb.Fatal(err)
		}
		bb.SetBytes(size)
		for bb.Loop() {
			rc, _, err := s.Get(ctx, info.Key)
			if err != nil {
				bb.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				bb.Fatal(err)
			}
			rc.Close()
		}
	})
}
