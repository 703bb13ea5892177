package audit

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// leafFormat is the first byte of LeafData. A future encoding gets a new
// number; entries already written keep theirs.
const leafFormat byte = 1

// maxField is the longest text field an entry keeps, in bytes. Longer values
// (a hostile X-End-User header, say) are cut at a character boundary; the
// request hash still covers the whole request.
const maxField = 4096

// maxIndexed is the longest value an entry keeps in a field that is a key
// of a search index (route, principal, department, each resource), in
// bytes. A PostgreSQL btree index row holds at most 2704 bytes: a longer
// value (a 5000-character path parameter named as a resource) failed the
// INSERT, and with it every entry of its batch.
const maxIndexed = 1024

// Entry is one audited call: one leaf of the log's Merkle tree.
type Entry struct {
	Index        uint64    // leaf index, assigned by Append
	Time         time.Time // when the call happened, set by the caller (kept in UTC, microseconds)
	RequestID    string
	PrincipalID  string
	DepartmentID string
	Method       string
	Route        string   // route template, e.g. /v1/grants/:id
	Resources    []string // "kind:id" strings, e.g. "grant:grt_123"
	Purpose      string
	EndUser      string
	CaseNumber   string
	Status       int
	Rows         int
	Latency      time.Duration // kept in microseconds
	RequestHash  [32]byte      // SHA-256 of the request
}

// LeafData is the canonical encoding of e that the Merkle tree commits to:
// the RFC 6962 leaf hash of e is SHA-256(0x00 || LeafData(e)). It includes
// the index, so an entry moved to another position no longer matches.
//
// Layout (integers big-endian, strings as a uint32 byte length then bytes):
//
//	byte    format (1)
//	uint64  Index
//	int64   Time as unix microseconds
//	string  RequestID, PrincipalID, DepartmentID, Method, Route
//	uint32  number of Resources, then each as a string
//	string  Purpose, EndUser, CaseNumber
//	int64   Status, Rows, Latency in microseconds
//	[32]    RequestHash
//
// Append normalises an entry before encoding it (see Append), so LeafData of
// an entry read back with Log.Entry reproduces the stored leaf.
func LeafData(e Entry) []byte {
	n := 1 + 8*5 + 32 + 4*10 + len(e.RequestID) + len(e.PrincipalID) + len(e.DepartmentID) +
		len(e.Method) + len(e.Route) + len(e.Purpose) + len(e.EndUser) + len(e.CaseNumber)
	for _, r := range e.Resources {
		n += 4 + len(r)
	}
	return appendLeaf(make([]byte, 0, n), &e)
}

// appendLeaf appends LeafData(*e) to b.
func appendLeaf(b []byte, e *Entry) []byte {
	b = appendHead(b, e.Index, e.Time.UnixMicro(), e.RequestID, e.PrincipalID, e.DepartmentID, e.Method, e.Route)
	b = appendResourceList(b, e.Resources)
	return appendTail(b, e.Purpose, e.EndUser, e.CaseNumber, int64(e.Status), int64(e.Rows), e.Latency.Microseconds(), e.RequestHash[:])
}

// appendHead, appendResourceList and appendTail are the pieces of LeafData,
// generic so that Verify can encode stored columns without copying them
// into strings.
func appendHead[S string | []byte](b []byte, index uint64, at int64, requestID, principal, department, method, route S) []byte {
	b = append(b, leafFormat)
	b = binary.BigEndian.AppendUint64(b, index)
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = appendString(b, requestID)
	b = appendString(b, principal)
	b = appendString(b, department)
	b = appendString(b, method)
	return appendString(b, route)
}

func appendResourceList(b []byte, rs []string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(rs)))
	for _, r := range rs {
		b = appendString(b, r)
	}
	return b
}

// appendStoredResources encodes the stored form of the resource list (the
// resources joined by newlines, as storedResources writes it) exactly as
// LeafData encodes the list itself.
func appendStoredResources(b []byte, joined []byte) []byte {
	if len(joined) == 0 {
		return binary.BigEndian.AppendUint32(b, 0)
	}
	n := 1
	for _, c := range joined {
		if c == '\n' {
			n++
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for {
		i := indexByte(joined, '\n')
		if i < 0 {
			return appendString(b, joined)
		}
		b = appendString(b, joined[:i])
		joined = joined[i+1:]
	}
}

func appendTail[S string | []byte](b []byte, purpose, endUser, caseNumber S, status, rows, latencyMicros int64, requestHash []byte) []byte {
	b = appendString(b, purpose)
	b = appendString(b, endUser)
	b = appendString(b, caseNumber)
	b = binary.BigEndian.AppendUint64(b, uint64(status))
	b = binary.BigEndian.AppendUint64(b, uint64(rows))
	b = binary.BigEndian.AppendUint64(b, uint64(latencyMicros))
	return append(b, requestHash...)
}

func appendString[S string | []byte](b []byte, s S) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// storedResources is the resources column: the list joined by newlines.
// normalize has removed empty resources and newlines inside one.
func storedResources(rs []string) string { return strings.Join(rs, "\n") }

func parseResources(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// normalize makes e storable on both engines and its encoding unambiguous:
// time in UTC at microsecond precision, latency in microseconds, text valid
// UTF-8 without NUL (PostgreSQL rejects both, and one bad entry must not
// fail the batch it shares with others), at most maxField bytes per field
// and maxIndexed per indexed field and resource, and no empty resources or
// newlines inside a resource (the stored list is newline-separated). It
// never modifies or keeps the caller's Resources slice.
func normalize(e *Entry) {
	e.Time = time.UnixMicro(e.Time.UnixMicro()).UTC()
	e.Latency = e.Latency.Truncate(time.Microsecond)
	for _, p := range []*string{&e.RequestID, &e.Method, &e.Purpose, &e.EndUser, &e.CaseNumber} {
		*p = cleanText(*p, maxField)
	}
	for _, p := range []*string{&e.PrincipalID, &e.DepartmentID, &e.Route} {
		*p = cleanText(*p, maxIndexed)
	}
	clean := true
	for _, r := range e.Resources {
		if r == "" || cleanText(r, maxIndexed) != r || strings.IndexByte(r, '\n') >= 0 {
			clean = false
			break
		}
	}
	if clean {
		// A copy: an Append whose ctx ends returns before its entry is
		// written, and the caller may then reuse the slice.
		e.Resources = slices.Clone(e.Resources)
		return
	}
	rs := make([]string, 0, len(e.Resources))
	for _, r := range e.Resources {
		r = cleanResource(r)
		if r != "" {
			rs = append(rs, r)
		}
	}
	e.Resources = rs
}

// cleanResource is r as normalize stores a resource: cleanText'ed, with
// newlines (the stored list's separator) replaced by U+FFFD.
func cleanResource(r string) string {
	return strings.ReplaceAll(cleanText(r, maxIndexed), "\n", "\uFFFD")
}

// cleanText is s as valid UTF-8 without NUL, cut to at most limit bytes at
// a character boundary.
func cleanText(s string, limit int) string {
	if len(s) <= limit && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}
