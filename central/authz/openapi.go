package authz

// openapiRoutes: the API's OpenAPI description, for every signed-in role
// (it describes routes and roles, no data).
var openapiRoutes = map[string]Rule{
	"GET /api/v1/openapi.json": {Roles: all},
	// This central's version (no data either).
	"GET /api/v1/version": {Roles: all},
}
