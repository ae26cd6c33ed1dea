package consoleusers

import (
	"net/http"
	"strings"

	"github.com/kinline/kinline/central/api/openapi"
	"github.com/kinline/kinline/central/store"
)

// pUser describes the {id} of a user's routes.
const pUser = "The console user's id."

// Docs document the users routes (package openapi).
var Docs = map[string]openapi.Doc{
	"POST /api/v1/users": {
		Summary:     "Create a console user",
		Description: "Creates a user who signs in with a password (hashed with argon2id) and, for the roles that play recordings, a second factor.",
		Body:        userIn{},
		Fields: map[string]string{
			"username": "Lower-case letters, digits, '.', '_' or '-', 2 to 64 characters.",
			"role":     strings.Join(store.UserRoles, ", ") + ".",
			"blocks":   "A block officer's blocks.",
			"password": "12 to 256 characters.",
		},
		Status: http.StatusCreated, Out: userOut{}, OutDesc: "The user.", Location: true,
		Errors: map[int]any{409: "The username is taken."},
	},
	"GET /api/v1/users": {
		Summary:     "List console users",
		Description: "Every console user with role, blocks, second-factor state and whether disabled.",
		Out:         openapi.Obj{"users": []userOut{}},
	},
	"GET /api/v1/users/{id}": {
		Summary:     "Get a console user",
		Description: "One console user.",
		Path:        map[string]string{"id": pUser},
		Out:         userOut{},
	},
	"PATCH /api/v1/users/{id}": {
		Summary:     "Change a console user",
		Description: "Changes only the fields given (display name, role, blocks, disabled, password) or resets the second factor; role, blocks and disabled take effect on the user's live sessions at once, a new password ends them. Audited (never the password).",
		Path:        map[string]string{"id": pUser},
		Body:        userPatch{},
		Fields:      map[string]string{"reset_totp": "true removes the user's second factor (they enrol again)."},
		Out:         userOut{},
	},
	"POST /api/v1/users/{id}/totp": {
		Summary:     "Enrol a TOTP second factor",
		Description: "Gives the user a new TOTP secret, answered once with its otpauth:// URI for an authenticator app. No request body.",
		Path:        map[string]string{"id": pUser},
		Status:      http.StatusCreated, Out: openapi.Obj{"secret": "", "otpauth_uri": ""},
		Errors: map[int]any{409: "The user has a second factor already (reset it first)."},
	},
}
