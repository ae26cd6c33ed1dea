package main

import (
	"encoding/json"
	"fmt"

	"github.com/kinline/kinline/shared/wire"
)

// fileDynsec is the Mosquitto dynamic-security configuration that confines
// each appliance to its own topics (see central/broker/mosquitto.conf.example).
const fileDynsec = "mosquitto-dynsec.json"

// Mosquitto's acl_file cannot do this job: Mosquitto 2.0 does not check
// subscriptions against it at all, so an appliance's certificate could take
// a share of central's shared subscription and swallow other appliances'
// batches. Its dynamic-security plugin checks subscribe, send and receive.

type dynsecACL struct {
	Type  string `json:"acltype"`
	Topic string `json:"topic"`
	Allow bool   `json:"allow"`
}

type dynsecRoleRef struct {
	Name string `json:"rolename"`
}

type dynsecClient struct {
	Username string          `json:"username"`
	Text     string          `json:"textname,omitempty"`
	Roles    []dynsecRoleRef `json:"roles"`
}

type dynsecRole struct {
	Name string      `json:"rolename"`
	ACLs []dynsecACL `json:"acls"`
}

type dynsecConfig struct {
	Default map[string]bool `json:"defaultACLAccess"`
	Clients []dynsecClient  `json:"clients"`
	Groups  []struct{}      `json:"groups"`
	Roles   []dynsecRole    `json:"roles"`
}

// centralShareGroup is the shared-subscription group of central's ingest.
const centralShareGroup = "kinline-central"

// dynsec builds the configuration for central and the appliances ids: each
// appliance may publish only under its own up/ topics and subscribe to and
// receive only its own down/ topics; central may do everything under the
// topic root, directly or through its shared subscription. Anything not
// granted is refused, subscriptions included.
func dynsec(ids []string) dynsecConfig {
	root := wire.TopicRoot
	cfg := dynsecConfig{
		Default: map[string]bool{"publishClientSend": false, "publishClientReceive": false, "subscribe": false, "unsubscribe": true},
		Groups:  []struct{}{},
		Clients: []dynsecClient{{Username: wire.CentralIdentity, Text: "Kinline central", Roles: []dynsecRoleRef{{Name: "central"}}}},
		Roles: []dynsecRole{{Name: "central", ACLs: []dynsecACL{
			{"publishClientSend", root + "/#", true},
			{"publishClientReceive", root + "/#", true},
			{"subscribePattern", root + "/#", true},
			{"subscribePattern", "$share/" + centralShareGroup + "/" + root + "/#", true},
		}}},
	}
	for _, id := range ids {
		role := "appliance-" + id
		cfg.Clients = append(cfg.Clients, dynsecClient{Username: id, Text: "Kinline appliance " + id, Roles: []dynsecRoleRef{{Name: role}}})
		cfg.Roles = append(cfg.Roles, dynsecRole{Name: role, ACLs: []dynsecACL{
			{"publishClientSend", root + "/" + id + "/up/#", true},
			{"publishClientReceive", root + "/" + id + "/down/#", true},
			{"subscribePattern", root + "/" + id + "/down/#", true},
		}})
	}
	return cfg
}

// WriteDynsec writes DIR/mosquitto-dynsec.json for central and every
// appliance whose certificate is neither revoked nor unreadable. Init,
// IssueAppliance and Revoke call it, so the file always matches the PKI.
func (p *PKI) WriteDynsec() error {
	rows, _, err := p.List()
	if err != nil {
		return err
	}
	var ids []string
	for _, r := range rows {
		if r.Err == nil && !r.Revoked && wire.ValidApplianceID(r.ID) == nil {
			ids = append(ids, r.ID)
		}
	}
	b, err := json.MarshalIndent(dynsec(ids), "", "  ")
	if err != nil {
		return fmt.Errorf("provision: %s: %w", fileDynsec, err)
	}
	// 0644: Mosquitto, which may run as its own user, must read it; it
	// holds no secret.
	return writeFileAtomic(p.path(fileDynsec), append(b, '\n'), 0o644)
}
