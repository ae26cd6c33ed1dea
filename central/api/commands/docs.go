package commands

import (
	"fmt"
	"net/http"
	"time"

	"github.com/kinline/kinline/central/api/openapi"
	"github.com/kinline/kinline/shared/wire"
)

// pAppliance describes the {appliance} of the commands routes.
const pAppliance = "The appliance id (its certificate's name)."

// Docs document the commands routes (package openapi).
var Docs = map[string]openapi.Doc{
	"POST /api/v1/appliances/{appliance}/commands": {
		Summary:     "Send a command to an appliance",
		Description: "Records a command (lockdown, lift_lockdown, end_call of a call in progress, refresh), audited, and sends it over MQTT; it expires after ttl_seconds (default 60) if the appliance does not answer.",
		Path:        map[string]string{"appliance": pAppliance},
		Body:        commandIn{},
		Fields: map[string]string{
			"kind":        `"lockdown", "lift_lockdown", "end_call" or "refresh".`,
			"call_id":     "end_call only: the call to end.",
			"ttl_seconds": fmt.Sprintf("1 to %d (default 60).", int(wire.MaxCommandTTL/time.Second)),
		},
		Status: http.StatusCreated, Out: commandOut{}, OutDesc: "The command, pending.",
		Errors: map[int]any{503: "Central has no MQTT connection, or sending failed (the command is recorded)."},
	},
	"GET /api/v1/appliances/{appliance}/commands": {
		Summary:     "List an appliance's commands",
		Description: "The commands sent to the appliance with their state: pending, answered (with the appliance's result) or expired.",
		Path:        map[string]string{"appliance": pAppliance},
		Out:         openapi.Obj{"commands": []commandOut{}},
	},
}
