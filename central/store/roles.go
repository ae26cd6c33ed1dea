package store

import "slices"

// User roles. Tokens act as RoleSystemAdmin (admin) or RoleReadOnly (viewer).
const (
	RoleSystemAdmin  = "system_admin"  // everything, including users and the audit log
	RoleBlockOfficer = "block_officer" // people, calls and recordings of their blocks only
	RoleInvestigator = "investigator"  // calls and recordings everywhere
	RoleFinance      = "finance"       // people and call metadata, no recordings
	RoleReadOnly     = "read_only"     // reads metadata, no recordings
)

// UserRoles lists every user role.
var UserRoles = []string{RoleSystemAdmin, RoleBlockOfficer, RoleInvestigator, RoleFinance, RoleReadOnly}

// UserRole maps a token role to the user role it acts as; user roles map to
// themselves and anything else to "".
func UserRole(role string) string {
	switch role {
	case RoleAdmin:
		return RoleSystemAdmin
	case RoleViewer:
		return RoleReadOnly
	}
	if slices.Contains(UserRoles, role) {
		return role
	}
	return ""
}
