// Package synctest is a fake upstream "vertical" system for sync tests: an
// HTTP JSON API on 127.0.0.1 serving person records with page pagination,
// an incremental "since" filter with tombstones, bearer auth and switchable
// faults (500s, slow pages, malformed JSON, a changed schema, duplicates).
package synctest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Token is the bearer token the upstream accepts.
const Token = "upstream-secret"

// Person is one upstream record.
type Person struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	IDNumber  string    `json:"sfzh"`
	Address   string    `json:"address"`
	UpdatedAt time.Time `json:"updated_at"`
	Deleted   bool      `json:"deleted,omitempty"`
}

// Upstream is the fake system. Its fields are guarded by its lock; use the
// methods while it serves.
type Upstream struct {
	*httptest.Server
	mu      sync.Mutex
	people  map[string]*Person
	clock   time.Time
	sorted  []*Person // by (UpdatedAt, ID); nil after a change
	Fail500 int       // the next n requests answer 500
	FailAt  int       // when > 0, requests for this page answer 500 (every time)
	Slow    time.Duration
	SlowAt  int // page that is slow (0: none)
	BadJSON int // page that is malformed (0: none)
	// ExtraField adds a field the item does not know to every record.
	ExtraField bool
	// DropAddress leaves the address field out.
	DropAddress bool
	// DuplicateAt repeats the first record of this page at its end.
	DuplicateAt int
	// RepeatFirstAt adds the very first record (of page 1) to this page.
	RepeatFirstAt int
	Requests      int
	gen           int
	// HMACSecret switches auth from the bearer token to the hmac scheme
	// (datasync.SignHMAC over method, request URI and X-Timestamp).
	HMACSecret string
	// CursorPages serves cursor pagination: an opaque "next" token
	// instead of page numbers.
	CursorPages bool
}

// New starts an upstream with n people, updated at times before base.
func New(t testing.TB, n int) *Upstream {
	u := &Upstream{people: make(map[string]*Person, n), clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := 1; i <= n; i++ {
		u.clock = u.clock.Add(time.Millisecond)
		p := &Person{ID: fmt.Sprintf("P%07d", i), Name: "居民" + strconv.Itoa(i), IDNumber: fmt.Sprintf("4206021990%08d", i),
			Address: "襄阳市樊城区" + strconv.Itoa(i%500) + "号", UpdatedAt: u.clock}
		u.people[p.ID] = p
	}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Server.Close)
	return u
}

// URL of the records endpoint.
func (u *Upstream) RecordsURL() string { return u.Server.URL + "/api/people" }

// Change updates n live people (the first n by id) and returns their ids.
func (u *Upstream) Change(n int, from int) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var ids []string
	u.gen++
	for i := from; len(ids) < n; i++ {
		p := u.people[fmt.Sprintf("P%07d", i)]
		if p == nil || p.Deleted {
			continue
		}
		u.clock = u.clock.Add(time.Millisecond)
		p.Address = "襄阳市襄城区新地址" + strconv.Itoa(i) + "号" + strconv.Itoa(u.gen) + "室"
		p.UpdatedAt = u.clock
		ids = append(ids, p.ID)
	}
	u.sorted = nil
	return ids
}

// Delete marks n live people from index from as deleted (tombstones).
func (u *Upstream) Delete(n int, from int) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var ids []string
	for i := from; len(ids) < n; i++ {
		p := u.people[fmt.Sprintf("P%07d", i)]
		if p == nil || p.Deleted {
			continue
		}
		u.clock = u.clock.Add(time.Millisecond)
		p.Deleted, p.UpdatedAt = true, u.clock
		ids = append(ids, p.ID)
	}
	u.sorted = nil
	return ids
}

// Set applies fn under the lock (to switch faults while serving).
func (u *Upstream) Set(fn func(u *Upstream)) {
	u.mu.Lock()
	fn(u)
	u.mu.Unlock()
}

// Reset switches every fault off.
func (u *Upstream) Reset() {
	u.mu.Lock()
	u.Fail500, u.FailAt, u.Slow, u.SlowAt, u.BadJSON = 0, 0, 0, 0, 0
	u.ExtraField, u.DropAddress, u.DuplicateAt, u.RepeatFirstAt = false, false, 0, 0
	u.mu.Unlock()
}

// Get returns a copy of one person.
func (u *Upstream) Get(id string) Person {
	u.mu.Lock()
	defer u.mu.Unlock()
	return *u.people[id]
}

// Live counts people not deleted.
func (u *Upstream) Live() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, p := range u.people {
		if !p.Deleted {
			n++
		}
	}
	return n
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.Requests++
	if u.HMACSecret != "" {
		m := hmac.New(sha256.New, []byte(u.HMACSecret))
		m.Write([]byte(r.Method + "\n" + r.URL.RequestURI() + "\n" + r.Header.Get("X-Timestamp")))
		ts, _ := strconv.ParseInt(r.Header.Get("X-Timestamp"), 10, 64)
		if !hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(r.Header.Get("X-Signature"))) || r.Header.Get("X-Key-Id") != "hub" ||
			time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
			u.mu.Unlock()
			http.Error(w, `{"error":"bad signature"}`, http.StatusUnauthorized)
			return
		}
	} else if r.Header.Get("Authorization") != "Bearer "+Token {
		u.mu.Unlock()
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	size, _ := strconv.Atoi(q.Get("page_size"))
	if u.CursorPages {
		// The token is "c" + the page number, opaque to the client.
		page = 1
		if c := q.Get("cursor"); c != "" {
			page, _ = strconv.Atoi(c[1:])
		}
	}
	if page < 1 {
		page = 1
	}
	if size < 1 {
		size = 100
	}
	if u.Fail500 > 0 || u.FailAt == page {
		if u.Fail500 > 0 {
			u.Fail500--
		}
		u.mu.Unlock()
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	slow := u.Slow > 0 && u.SlowAt == page
	if u.sorted == nil {
		u.sorted = make([]*Person, 0, len(u.people))
		for _, p := range u.people {
			u.sorted = append(u.sorted, p)
		}
		sort.Slice(u.sorted, func(i, j int) bool {
			a, b := u.sorted[i], u.sorted[j]
			if !a.UpdatedAt.Equal(b.UpdatedAt) {
				return a.UpdatedAt.Before(b.UpdatedAt)
			}
			return a.ID < b.ID
		})
	}
	var list []*Person
	if s := q.Get("since"); s != "" {
		since, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			u.mu.Unlock()
			http.Error(w, "bad since", http.StatusBadRequest)
			return
		}
		i := sort.Search(len(u.sorted), func(i int) bool { return !u.sorted[i].UpdatedAt.Before(since) })
		list = u.sorted[i:]
	} else {
		for _, p := range u.sorted {
			if !p.Deleted {
				list = append(list, p)
			}
		}
	}
	total := len(list)
	lo, hi := min((page-1)*size, total), min(page*size, total)
	recs := make([]map[string]any, 0, hi-lo+1)
	for _, p := range list[lo:hi] {
		m := map[string]any{"id": p.ID, "name": p.Name, "sfzh": p.IDNumber, "address": p.Address, "updated_at": p.UpdatedAt.Format(time.RFC3339Nano)}
		if p.Deleted {
			m["deleted"] = true
		}
		if u.ExtraField {
			m["phone"] = "13800000000"
		}
		if u.DropAddress {
			delete(m, "address")
		}
		recs = append(recs, m)
	}
	if u.DuplicateAt == page && len(recs) > 0 {
		recs = append(recs, recs[0])
	}
	if u.RepeatFirstAt == page && len(list) > 0 {
		p := list[0]
		recs = append(recs, map[string]any{"id": p.ID, "name": p.Name, "sfzh": p.IDNumber, "address": p.Address, "updated_at": p.UpdatedAt.Format(time.RFC3339Nano)})
	}
	bad, delay := u.BadJSON == page, u.Slow
	u.mu.Unlock()
	if slow {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if bad {
		w.Write([]byte(`{"total": 5, "records": [{"id": "P1", "name": `))
		return
	}
	resp := map[string]any{"total": total, "records": recs}
	if u.CursorPages {
		next := ""
		if hi < total {
			next = "c" + strconv.Itoa(page+1)
		}
		resp["next"] = next
	}
	json.NewEncoder(w).Encode(resp)
}
