package authz

// moneyRoutes: rates, accounts, ledger entries and reconciliation.
var moneyRoutes = map[string]Rule{}
