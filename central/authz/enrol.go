package authz

// enrolRoutes: enrolling, moving and retiring appliances, and the
// console's page for it, are the system administrator's.
var enrolRoutes = map[string]Rule{
	// JSON API.
	"POST /api/v1/appliances":                    {Roles: admin},
	"PATCH /api/v1/appliances/{appliance}":       {Roles: admin},
	"POST /api/v1/appliances/{appliance}/retire": {Roles: admin},

	// Console pages (package web).
	"GET /appliances":                     {Roles: admin},
	"POST /appliances":                    {Roles: admin},
	"POST /appliances/{appliance}/move":   {Roles: admin},
	"POST /appliances/{appliance}/retire": {Roles: admin},
}
