// Package exchange holds who may call the hub and what data they may use:
// departments, principals, API keys, grants and the one authorization check
// every data route calls.
package exchange

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/errs"
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

// Separation of duties (三员分立: 系统管理员, 安全管理员, 安全审计员 kept
// apart). Admins make the departments, principals, keys and grants the
// audit log records; were they able to make an auditor, or a key for one,
// they could read, and so watch for, their own trail. So auditor
// principals and their keys are out of the admins' reach: the operator
// makes them on the hub's host with `sharehub auditor`, and an auditor
// may keep its own keys (make, list, revoke: key rotation) over the API.
// The API calls these checks; the service methods (CreatePrincipal,
// CreateKey, ...) do not, as the CLI and the demo seed use them.

// AuditorRule names the rule in refusals.
const AuditorRule = "separation of duties (三员分立): auditor principals and their keys are managed by the operator with `sharehub auditor` on the hub's host, not by admins"

// CheckNewPrincipalRoles refuses, over the API, a new principal that would
// hold the auditor role (alone or with others, admin included).
func CheckNewPrincipalRoles(roles []Role) error {
	for i, r := range roles {
		if r == RoleAuditor {
			return &errs.Error{Kind: errs.KindForbidden, Message: AuditorRule,
				Fields: []errs.FieldError{{Pointer: "/roles/" + strconv.Itoa(i), Reason: "auditors are not made over the API", Value: string(r)}}}
		}
	}
	return nil
}

// CheckDisablePrincipal refuses an admin's disabling an auditor, which
// would end the oversight of the admins by the admins' choice.
func CheckDisablePrincipal(caller *Principal, target Principal) error {
	if target.Has(RoleAuditor) {
		return errs.Forbidden("%s; principal %s is an auditor", AuditorRule, target.ID)
	}
	if !caller.Has(RoleAdmin) {
		return errs.Forbidden("only admins disable principals")
	}
	return nil
}

// CheckKeyAccess says whether caller may see (change false) or make and
// revoke (change true) the keys of owner. Admins see every principal's
// keys (names and dates, never secrets) and change those of everyone but
// auditors; an auditor sees and changes its own keys only.
func CheckKeyAccess(caller *Principal, owner Principal, change bool) error {
	if caller.Has(RoleAuditor) && caller.ID == owner.ID {
		return nil
	}
	if caller.Has(RoleAdmin) {
		if change && owner.Has(RoleAuditor) {
			return errs.Forbidden("%s; principal %s is an auditor", AuditorRule, owner.ID)
		}
		return nil
	}
	return errs.Forbidden("an auditor manages its own keys only; the keys of principal %s are an admin's to manage, or the operator's for another auditor", owner.ID)
}
