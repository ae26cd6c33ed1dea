// Package authz is central's access matrix, in one place: for every JSON API
// route and every console page, the user roles that may use it, whether a
// block officer is limited to their blocks there, and whether a password
// session needs a verified second factor (TOTP). Package api and package web
// register their handlers through it, so a route missing from the matrix
// cannot be served (they refuse to start).
//
// API tokens act as roles too: a token has a user role (an admin token is
// a system_admin, a viewer token read_only), and a second factor when its
// owner has enrolled TOTP (decision 0033): a token of an owner without one
// may not play or export recordings (ErrTokenSecondFactor says what to do).
package authz

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kinline/kinline/central/store"
)

// Errors of the authorization layer.
var (
	ErrForbidden    = errors.New("authz: forbidden")
	ErrSecondFactor = errors.New("authz: a verified second factor (TOTP) is required")
	ErrOutOfScope   = errors.New("authz: outside your blocks")
	ErrUnknownRoute = errors.New("authz: route missing from the access matrix")
	// ErrTokenSecondFactor is ErrSecondFactor for an API token.
	ErrTokenSecondFactor = fmt.Errorf("%w: this token's owner has no second factor; "+
		"the owner signs in to the console with a password and enrols TOTP (Account, second factor), then the token may play and export", ErrSecondFactor)
)

// Rule says who may use a route.
type Rule struct {
	Roles []string
	// Scoped: a block officer only sees and changes their blocks' data
	// here (the handler checks each item's block and forces list filters).
	Scoped bool
	// MFA: password sessions must have verified a second factor.
	MFA bool
	// Self: any signed-in user may use it on their own user id ({id}).
	Self bool
}

var (
	all       = []string{store.RoleSystemAdmin, store.RoleBlockOfficer, store.RoleInvestigator, store.RoleFinance, store.RoleReadOnly}
	admin     = []string{store.RoleSystemAdmin}
	peopleRW  = []string{store.RoleSystemAdmin, store.RoleBlockOfficer}
	playback  = []string{store.RoleSystemAdmin, store.RoleInvestigator, store.RoleBlockOfficer}
	oversight = []string{store.RoleSystemAdmin, store.RoleInvestigator, store.RoleReadOnly}
)

// Routes is the matrix, keyed by the http.ServeMux pattern the handler is
// registered under.
var Routes = map[string]Rule{
	// People (inmates and officers), their cards and contacts.
	"POST /api/v1/inmates":               {Roles: peopleRW, Scoped: true},
	"GET /api/v1/inmates":                {Roles: all, Scoped: true},
	"GET /api/v1/inmates/{id}":           {Roles: all, Scoped: true},
	"PATCH /api/v1/inmates/{id}":         {Roles: peopleRW, Scoped: true},
	"POST /api/v1/inmates/{id}/cards":    {Roles: peopleRW, Scoped: true},
	"POST /api/v1/inmates/{id}/contacts": {Roles: peopleRW, Scoped: true},
	"GET /api/v1/inmates/{id}/contacts":  {Roles: all, Scoped: true},
	"POST /api/v1/officers":              {Roles: admin},
	"GET /api/v1/officers":               {Roles: all, Scoped: true},
	"GET /api/v1/officer-actions":        {Roles: oversight},
	// Blocks, rules and the estate: block officers read their blocks'
	// only (blocks, rules, appliances, their alarms).
	"GET /api/v1/blocks":               {Roles: all, Scoped: true},
	"POST /api/v1/blocks":              {Roles: admin},
	"GET /api/v1/blocks/{name}/rules":  {Roles: all, Scoped: true},
	"PUT /api/v1/blocks/{name}/rules":  {Roles: admin},
	"GET /api/v1/appliances":           {Roles: all, Scoped: true},
	"GET /api/v1/alarms":               {Roles: all, Scoped: true},
	"POST /api/v1/alarms/{id}/clear":   {Roles: admin},
	"GET /api/v1/calls":                {Roles: all, Scoped: true},
	"GET /api/v1/calls/in-progress":    {Roles: all, Scoped: true},
	"GET /api/v1/calls/{id}":           {Roles: all, Scoped: true},
	"GET /api/v1/calls/{id}/recording": {Roles: playback, Scoped: true, MFA: true},

	// Commands to an appliance (lockdown, end_call, ...): block officers
	// only to their blocks' appliances.
	"POST /api/v1/appliances/{appliance}/commands": {Roles: peopleRW, Scoped: true},
	"GET /api/v1/appliances/{appliance}/commands":  {Roles: peopleRW, Scoped: true},
	// Security administration.
	"GET /api/v1/audit":            {Roles: admin},
	"GET /api/v1/audit.csv":        {Roles: admin, MFA: true},
	"GET /api/v1/audit/verify":     {Roles: admin},
	"POST /api/v1/users":           {Roles: admin},
	"GET /api/v1/users":            {Roles: admin},
	"GET /api/v1/users/{id}":       {Roles: admin, Self: true},
	"PATCH /api/v1/users/{id}":     {Roles: admin},
	"POST /api/v1/users/{id}/totp": {Roles: admin, Self: true},
	// Console pages (package web).
	"GET /calls":                  {Roles: all, Scoped: true},
	"GET /calls/in-progress":      {Roles: all, Scoped: true},
	"GET /calls/in-progress/live": {Roles: all, Scoped: true},
	"POST /calls/{id}/end":        {Roles: peopleRW, Scoped: true},
	"GET /calls/{id}/recording":   {Roles: playback, Scoped: true, MFA: true},
	"GET /alarms":                 {Roles: all, Scoped: true},
	"POST /alarms/{id}/clear":     {Roles: admin},
	"GET /audit":                  {Roles: admin},
	"GET /users":                  {Roles: admin},
	"POST /users":                 {Roles: admin},
	"POST /users/{id}/password":   {Roles: admin},
	"POST /users/{id}/disabled":   {Roles: admin},
	"POST /users/{id}/totp/reset": {Roles: admin},
	// Every signed-in user enrols their own second factor (a user, not a
	// token: the handler refuses sessions without a user).
	"GET /account/totp":          {Roles: all},
	"POST /account/totp":         {Roles: all},
	"POST /account/totp/confirm": {Roles: all},
}

// MustEnrolTOTP reports whether users of role are sent to enrol a second
// factor when they sign in without one: the roles whose work is playing
// and exporting recordings. Others may enrol too, and need to before they
// export.
func MustEnrolTOTP(role string) bool {
	return role == store.RoleSystemAdmin || role == store.RoleInvestigator
}

// Caller is an authenticated identity.
type Caller struct {
	Actor  string // for the audit log: "token:<name>" or "user:<username>"
	Role   string // a user role
	UserID string // empty for tokens
	Blocks []string
	MFA    bool
	// A token's id, its owner's user id and its expiry (nil: never); a
	// token creates tokens for its owner, no stronger and no longer lived.
	TokenID      string
	Owner        string
	TokenExpires *time.Time
}

// SeesHidden reports whether c may see hidden calls (numbers on the
// prison-wide list as hidden, or calls the appliance flagged so):
// investigators and system administrators only.
func (c Caller) SeesHidden() bool {
	return c.Role == store.RoleSystemAdmin || c.Role == store.RoleInvestigator
}

// Scoped reports whether c is limited to its blocks.
func (c Caller) Scoped() bool { return c.Role == store.RoleBlockOfficer }

// InScope reports whether c may see block's data.
func (c Caller) InScope(block string) bool {
	return !c.Scoped() || block != "" && slices.Contains(c.Blocks, block)
}

// CheckBlock is nil when c may see block's data, else ErrOutOfScope.
func (c Caller) CheckBlock(block string) error {
	if c.InScope(block) {
		return nil
	}
	return fmt.Errorf("%w: block %q", ErrOutOfScope, block)
}

// ScopeBlocks is the Blocks filter to force on list queries: nil (no
// restriction) unless c is scoped.
func (c Caller) ScopeBlocks() []string {
	if !c.Scoped() {
		return nil
	}
	if c.Blocks == nil {
		return []string{}
	}
	return c.Blocks
}

// Check decides whether c may use the route registered as pattern; id is
// the route's {id} (for Self rules). It returns nil, ErrForbidden,
// ErrSecondFactor or ErrUnknownRoute.
func Check(pattern string, c Caller, id string) error {
	r, ok := Routes[pattern]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownRoute, pattern)
	}
	self := r.Self && c.UserID != "" && id == c.UserID
	if !self && !slices.Contains(r.Roles, c.Role) {
		return fmt.Errorf("%w: role %q may not use %s", ErrForbidden, c.Role, pattern)
	}
	if r.MFA && !c.MFA {
		if c.TokenID != "" {
			return ErrTokenSecondFactor
		}
		return ErrSecondFactor
	}
	return nil
}

// init merges each area's routes (kept beside that area's rules) into
// Routes; a pattern given twice is a programming error.
func init() {
	for _, more := range []map[string]Rule{moneyRoutes, manageRoutes, reviewRoutes, openapiRoutes, enrolRoutes, tokenRoutes} {
		for p, r := range more {
			if _, dup := Routes[p]; dup {
				panic("authz: route given twice: " + p)
			}
			Routes[p] = r
		}
	}
}
