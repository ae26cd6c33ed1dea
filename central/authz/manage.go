package authz

// manageRoutes: contacts' approval, people's photos, global numbers, settings, import and
// export, and their console pages.
//
// People's contacts are decided (and a contact's self-block lifted), and
// people's photos set and removed, by block officers (their blocks) and
// system administrators; every role reads photos (block officers their
// blocks'); global numbers,
// settings, block rules and windows, and imports are the system
// administrator's; exports follow the read rights of what they export
// (block officers get their blocks only) and, like playback, need a
// verified second factor. Block officers read only their blocks' windows
// and terminals.
var manageRoutes = map[string]Rule{
	// JSON API.
	"POST /api/v1/contacts/{contact}/decision": {Roles: peopleRW, Scoped: true},
	"POST /api/v1/contacts/{contact}/unblock":  {Roles: peopleRW, Scoped: true},
	"POST /api/v1/inmates/{id}/pin":            {Roles: peopleRW, Scoped: true},
	"GET /api/v1/inmates/{id}/photo":           {Roles: all, Scoped: true},
	"PUT /api/v1/inmates/{id}/photo":           {Roles: peopleRW, Scoped: true},
	"DELETE /api/v1/inmates/{id}/photo":        {Roles: peopleRW, Scoped: true},
	"GET /api/v1/numbers":                      {Roles: all},
	"POST /api/v1/numbers":                     {Roles: admin},
	"POST /api/v1/numbers/remove":              {Roles: admin},
	"GET /api/v1/settings":                     {Roles: all},
	"PUT /api/v1/settings":                     {Roles: admin},
	"GET /api/v1/blocks/{name}/windows":        {Roles: all, Scoped: true},
	"PUT /api/v1/blocks/{name}/windows":        {Roles: admin},
	"GET /api/v1/terminals":                    {Roles: all, Scoped: true},
	"GET /api/v1/export/{file}":                {Roles: all, Scoped: true, MFA: true},
	"POST /api/v1/import/{kind}":               {Roles: admin},

	// Console pages (package web).
	"GET /people":                      {Roles: all, Scoped: true},
	"POST /people":                     {Roles: peopleRW, Scoped: true},
	"GET /people/{id}":                 {Roles: all, Scoped: true},
	"POST /people/{id}":                {Roles: peopleRW, Scoped: true},
	"POST /people/{id}/cards":          {Roles: peopleRW, Scoped: true},
	"POST /people/{id}/pin":            {Roles: peopleRW, Scoped: true},
	"GET /people/{id}/photo":           {Roles: all, Scoped: true},
	"POST /people/{id}/photo":          {Roles: peopleRW, Scoped: true},
	"POST /people/{id}/photo/delete":   {Roles: peopleRW, Scoped: true},
	"POST /people/{id}/contacts":       {Roles: peopleRW, Scoped: true},
	"POST /contacts/{id}/decision":     {Roles: peopleRW, Scoped: true},
	"POST /contacts/{id}/unblock":      {Roles: peopleRW, Scoped: true},
	"GET /numbers":                     {Roles: all},
	"POST /numbers":                    {Roles: admin},
	"POST /numbers/remove":             {Roles: admin},
	"GET /blocks":                      {Roles: all, Scoped: true},
	"POST /blocks":                     {Roles: admin},
	"POST /blocks/{name}/rules":        {Roles: admin},
	"POST /blocks/{name}/rules/delete": {Roles: admin},
	"POST /blocks/{name}/windows":      {Roles: admin},
	"GET /settings":                    {Roles: all},
	"POST /settings":                   {Roles: admin},
	"GET /import":                      {Roles: admin},
	"POST /import":                     {Roles: admin},
	"GET /import/jobs/{job}":           {Roles: admin},
	"GET /import/template/{file}":      {Roles: admin},
	"GET /export":                      {Roles: all, Scoped: true},
	"GET /export/{file}":               {Roles: all, Scoped: true, MFA: true},
	"GET /static/manage_import.js":     {Roles: all},
}
