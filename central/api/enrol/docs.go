package enrol

import (
	"net/http"

	"github.com/kinline/kinline/central/api/openapi"
)

// pAppliance describes the {appliance} of the enrolment routes.
const pAppliance = "The appliance id (its certificate's name)."

// Docs document the enrolment routes (package openapi).
var Docs = map[string]openapi.Doc{
	"POST /api/v1/appliances": {
		Summary: "Enrol an appliance",
		Description: "Adds an appliance to a block (which must exist), audited; the block's policy is published to it when it connects. " +
			"Until an id is enrolled its connections are refused (embedded broker) or its messages refused (external Mosquitto) and alarmed as unknown_appliance. " +
			"A retired id cannot be enrolled again: provision a new one.",
		Body:   enrolIn{},
		Fields: map[string]string{"id": "The appliance id: 1 to 64 of A-Z a-z 0-9 . _ - (kinline-provision appliance -id).", "block": "An existing block."},
		Status: http.StatusCreated, Out: enrolmentOut{}, Location: true,
		Errors: map[int]any{409: "The id is already enrolled, or was retired."},
	},
	"PATCH /api/v1/appliances/{appliance}": {
		Summary:     "Move an appliance to another block",
		Description: "Moves an enrolled appliance to another existing block, audited; both blocks' policies are republished, so the appliance gets its new block's.",
		Path:        map[string]string{"appliance": pAppliance},
		Body:        moveIn{},
		Fields:      map[string]string{"block": "An existing block."},
		Out:         enrolmentOut{}, OutDesc: "The appliance with the block it left (from).",
		Errors: map[int]any{404: "No such appliance.", 409: "The appliance is retired."},
	},
	"POST /api/v1/appliances/{appliance}/retire": {
		Summary: "Retire an appliance",
		Description: "Retires an enrolled appliance, audited: no policy is published to it any more, its live connection to the embedded broker is dropped and its later connections and messages are refused and alarmed. " +
			"Its calls, recordings and alarms stay. With an external Mosquitto, also run kinline-provision revoke -id ID and restart Mosquitto so that its dynamic-security role goes.",
		Path:   map[string]string{"appliance": pAppliance},
		Out:    enrolmentOut{},
		Errors: map[int]any{404: "No such appliance.", 409: "The appliance is already retired."},
	},
}
