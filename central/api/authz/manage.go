package authz

// manageRoutes: contacts' approval, global numbers, settings, import and
// export, and their console pages.
var manageRoutes = map[string]Rule{}
