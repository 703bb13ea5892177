// Package exchange holds who may call the hub and what data they may use:
// departments, principals, API keys, grants and the one authorization check
// every data route calls.
package exchange

import (
	"slices"
	"strings"
	"time"
)

// Role gates routes. Grants, not roles, gate data.
type Role string

const (
	RoleAdmin     Role = "admin"      // hub administrator: departments, principals, keys, grants
	RoleDataAdmin Role = "data-admin" // keeps its department's catalogue, approves share applications
	RoleAuditor   Role = "auditor"    // reads the audit log, never edits it
	RoleImporter  Role = "importer"   // loads spreadsheets
	RoleApp       Role = "app"        // a department application calling data APIs
	RoleSealUser  Role = "seal-user"  // may apply its organisation's seals
	RoleIssuer    Role = "issuer"     // issues licences of its department's types
)

// Roles lists every role, for validation and documentation.
var Roles = []Role{RoleAdmin, RoleDataAdmin, RoleAuditor, RoleImporter, RoleApp, RoleSealUser, RoleIssuer}

// ValidRole reports whether r is a known role.
func ValidRole(r Role) bool { return slices.Contains(Roles, r) }

// Principal is an authenticated caller: a department application or a person
// with roles, always belonging to one department.
type Principal struct {
	ID           string    `json:"id"`
	DepartmentID string    `json:"department_id"`
	Name         string    `json:"name"`
	Roles        []Role    `json:"roles"`
	CreatedAt    time.Time `json:"created_at"`
	Disabled     bool      `json:"disabled,omitempty"`
}

// Has reports whether p holds any of the roles. Roles do not imply one
// another: an admin is not an auditor (the people audited do not read or
// curate their own audit trail), so routes name every role they admit.
func (p *Principal) Has(roles ...Role) bool {
	if p == nil {
		return false
	}
	for _, have := range p.Roles {
		if slices.Contains(roles, have) {
			return true
		}
	}
	return false
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, " ")
}

func splitRoles(s string) []Role {
	var rs []Role
	for _, f := range strings.Fields(s) {
		rs = append(rs, Role(f))
	}
	return rs
}
