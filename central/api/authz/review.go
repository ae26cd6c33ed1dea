package authz

// reviewRoutes: review notes, bookmarks and statistics, and their console
// pages.
var reviewRoutes = map[string]Rule{}
