package authz

import "github.com/kinline/kinline/central/store"

// moneyW may change money: rates, money settings and ledger credits.
var moneyW = []string{store.RoleSystemAdmin, store.RoleFinance}

// moneyRoutes: rates, accounts, ledger entries and reconciliation. Every
// role reads them (block officers only their blocks' accounts); finance
// and system admins write.
var moneyRoutes = map[string]Rule{
	"GET /api/v1/money/settings":                 {Roles: all},
	"PUT /api/v1/money/settings":                 {Roles: moneyW},
	"GET /api/v1/rates":                          {Roles: all},
	"PUT /api/v1/rates":                          {Roles: moneyW},
	"GET /api/v1/accounts":                       {Roles: all, Scoped: true},
	"GET /api/v1/accounts/{person}":              {Roles: all, Scoped: true},
	"POST /api/v1/accounts/{person}/recharges":   {Roles: moneyW},
	"POST /api/v1/accounts/{person}/refunds":     {Roles: moneyW},
	"POST /api/v1/accounts/{person}/adjustments": {Roles: moneyW},
	"GET /api/v1/reconciliation":                 {Roles: all, Scoped: true},
	// Console pages (package web).
	"GET /money/rates":                   {Roles: all},
	"POST /money/rates":                  {Roles: moneyW},
	"POST /money/rates/delete":           {Roles: moneyW},
	"GET /money/accounts":                {Roles: all, Scoped: true},
	"GET /accounts/{person}":             {Roles: all, Scoped: true},
	"POST /accounts/{person}/recharge":   {Roles: moneyW},
	"POST /accounts/{person}/refund":     {Roles: moneyW},
	"POST /accounts/{person}/adjustment": {Roles: moneyW},
	"GET /money/reconciliation":          {Roles: all, Scoped: true},
	"GET /money/settings":                {Roles: all},
	"POST /money/settings":               {Roles: moneyW},
}
