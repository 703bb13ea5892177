package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

type entryJSON struct {
	Index        uint64    `json:"index"`
	Time         time.Time `json:"time"`
	RequestID    string    `json:"request_id"`
	PrincipalID  string    `json:"principal_id,omitempty"`
	DepartmentID string    `json:"department_id,omitempty"`
	Method       string    `json:"method"`
	Route        string    `json:"route"`
	Resources    []string  `json:"resources,omitempty"`
	Purpose      string    `json:"purpose,omitempty"`
	EndUser      string    `json:"end_user,omitempty"`
	CaseNumber   string    `json:"case_number,omitempty"`
	Status       int       `json:"status"`
	Rows         int       `json:"rows"`
	LatencyMS    float64   `json:"latency_ms"`
	RequestHash  string    `json:"request_hash"`
	LeafHash     string    `json:"leaf_hash"`
}

func toEntryJSON(e audit.Entry) entryJSON {
	return entryJSON{Index: e.Index, Time: e.Time, RequestID: e.RequestID, PrincipalID: e.PrincipalID, DepartmentID: e.DepartmentID,
		Method: e.Method, Route: e.Route, Resources: e.Resources, Purpose: e.Purpose, EndUser: e.EndUser, CaseNumber: e.CaseNumber,
		Status: e.Status, Rows: e.Rows, LatencyMS: float64(e.Latency.Microseconds()) / 1000, RequestHash: base64.StdEncoding.EncodeToString(e.RequestHash[:]),
		LeafHash: leafHashOf(e)}
}

type checkpointJSON struct {
	Size        uint64    `json:"size"`
	Root        string    `json:"root"`
	Time        time.Time `json:"time"`
	Note        string    `json:"note"`
	Origin      string    `json:"origin"`
	VerifierKey string    `json:"verifier_key"`
}

// leafHashOf is e's RFC 6962 leaf hash, the hash its inclusion proof
// starts from.
func leafHashOf(e audit.Entry) string {
	leaf := rfc6962.DefaultHasher.HashLeaf(audit.LeafData(e))
	return base64.StdEncoding.EncodeToString(leaf)
}

// The proofs name every size and index they are for, 0 included.
type inclusionProofJSON struct {
	Index  uint64   `json:"index"`
	Size   uint64   `json:"size"`
	Leaf   string   `json:"leaf_hash"`
	Hashes []string `json:"hashes"`
}

type consistencyProofJSON struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes []string `json:"hashes"`
}

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

func queryUint(c *gin.Context, name string, required bool) (uint64, bool, error) {
	v := c.Query(name)
	if v == "" {
		if required {
			return 0, false, errs.InvalidFields("missing query parameter", errs.FieldError{Pointer: "?" + name, Reason: "required"})
		}
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?" + name, Reason: "a whole number ≥ 0", Value: v})
	}
	return n, true, nil
}

// parseQueryTime reads an RFC 3339 time given in a query string. An
// unescaped '+' of a zone offset (…T08:00:00+08:00) arrives as a space; no
// RFC 3339 time holds one, so a space is read as that '+'.
func parseQueryTime(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil && strings.Contains(v, " ") {
		t, err = time.Parse(time.RFC3339, strings.ReplaceAll(v, " ", "+"))
	}
	return t, err
}

func queryTime(c *gin.Context, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := parseQueryTime(v)
	if err != nil {
		return t, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?" + name, Reason: "an RFC 3339 time, e.g. 2026-11-25T08:00:00+08:00", Value: v})
	}
	return t, nil
}

func (s *Server) registerAudit() {
	auditors := []exchange.Role{exchange.RoleAuditor}
	s.handle(route{Method: "GET", Path: "/v1/audit/entries", Tag: "audit", Summary: "Search the audit log (auditors).", Roles: auditors,
		Query: []queryParam{{Name: "from", Description: "RFC 3339, inclusive"}, {Name: "to", Description: "RFC 3339, exclusive"}, {Name: "principal_id"},
			{Name: "department_id"}, {Name: "route", Description: "route template, e.g. /v1/grants/:id"}, {Name: "resource", Description: "kind:id"},
			{Name: "status"}, {Name: "cursor"}, {Name: "limit", Description: "1–1000, default 100"}},
		Response: list[entryJSON]{}, Handler: func(c *gin.Context) {
			var f audit.Filter
			var err error
			if f.From, err = queryTime(c, "from"); err != nil {
				fail(c, err)
				return
			}
			if f.To, err = queryTime(c, "to"); err != nil {
				fail(c, err)
				return
			}
			if st, set, err := queryUint(c, "status", false); err != nil || (set && (st < 100 || st > 599)) {
				if err == nil {
					err = errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?status", Reason: "an HTTP status 100–599", Value: c.Query("status")})
				}
				fail(c, err)
				return
			} else {
				f.Status = int(st)
			}
			lim, set, err := queryUint(c, "limit", false)
			if err != nil || set && (lim < 1 || lim > 1000) {
				fail(c, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?limit", Reason: "1–1000", Value: c.Query("limit")}))
				return
			}
			f.Limit = int(lim)
			f.PrincipalID, f.DepartmentID, f.Route, f.Resource, f.Cursor = c.Query("principal_id"), c.Query("department_id"), c.Query("route"), c.Query("resource"), c.Query("cursor")
			es, next, err := s.audit.Search(c.Request.Context(), f)
			if err != nil {
				fail(c, err)
				return
			}
			out := list[entryJSON]{Items: make([]entryJSON, len(es)), NextCursor: next}
			for i, e := range es {
				out.Items[i] = toEntryJSON(e)
			}
			noteRows(c, len(es))
			ok(c, http.StatusOK, out)
		}})
	s.handle(route{Method: "GET", Path: "/v1/audit/entries/:index", Tag: "audit", Summary: "One audit entry with its leaf hash (auditors).", Roles: auditors,
		Response: entryJSON{}, Handler: func(c *gin.Context) {
			i, err := strconv.ParseUint(c.Param("index"), 10, 64)
			if err != nil {
				fail(c, errs.InvalidFields("bad entry index", errs.FieldError{Pointer: "{index}", Reason: "a whole number ≥ 0", Value: c.Param("index")}))
				return
			}
			e, err := s.audit.Entry(c.Request.Context(), i)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, "audit_entry", c.Param("index"))
			ok(c, http.StatusOK, toEntryJSON(e))
		}})
	s.handle(route{Method: "GET", Path: "/v1/audit/checkpoint", Tag: "audit", Summary: "The latest signed checkpoint (C2SP signed note); public so anyone can hold the hub to it.", Public: true,
		Response: checkpointJSON{}, Handler: func(c *gin.Context) {
			cp, err := s.audit.Checkpoint(c.Request.Context())
			if err != nil {
				fail(c, err)
				return
			}
			if c.Query("format") == "note" {
				c.Data(http.StatusOK, "text/plain; charset=utf-8", cp.Note)
				return
			}
			ok(c, http.StatusOK, checkpointJSON{Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Root), Time: cp.Time, Note: string(cp.Note),
				Origin: s.cfg.AuditOrigin, VerifierKey: s.cfg.AuditVerifierKey})
		}})
	s.handle(route{Method: "GET", Path: "/v1/audit/proofs/inclusion", Tag: "audit", Summary: "RFC 6962 inclusion proof of entry `index` in the tree of `size` entries.", Roles: auditors,
		Query:    []queryParam{{Name: "index", Required: true}, {Name: "size", Required: true}},
		Response: inclusionProofJSON{}, Handler: func(c *gin.Context) {
			idx, _, err := queryUint(c, "index", true)
			if err != nil {
				fail(c, err)
				return
			}
			size, _, err := queryUint(c, "size", true)
			if err != nil {
				fail(c, err)
				return
			}
			hs, err := s.audit.InclusionProof(c.Request.Context(), idx, size)
			if err != nil {
				fail(c, err)
				return
			}
			e, err := s.audit.Entry(c.Request.Context(), idx)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, inclusionProofJSON{Index: idx, Size: size, Leaf: leafHashOf(e), Hashes: b64s(hs)})
		}})
	s.handle(route{Method: "GET", Path: "/v1/audit/proofs/consistency", Tag: "audit", Summary: "RFC 6962 consistency proof between tree sizes `from` and `to`.", Roles: auditors,
		Query:    []queryParam{{Name: "from", Required: true}, {Name: "to", Required: true}},
		Response: consistencyProofJSON{}, Handler: func(c *gin.Context) {
			from, _, err := queryUint(c, "from", true)
			if err != nil {
				fail(c, err)
				return
			}
			to, _, err := queryUint(c, "to", true)
			if err != nil {
				fail(c, err)
				return
			}
			hs, err := s.audit.ConsistencyProof(c.Request.Context(), from, to)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, consistencyProofJSON{From: from, To: to, Hashes: b64s(hs)})
		}})
}
