package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kinline/kinline/shared/clock"
)

// TestDynsecFollowsThePKI checks that init, appliance and revoke keep
// mosquitto-dynsec.json in step: central and every valid appliance, each
// appliance confined to its own topics, revoked ones left out.
func TestDynsecFollowsThePKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	clk := clock.Real{}
	read := func() dynsecConfig {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, fileDynsec))
		if err != nil {
			t.Fatal(err)
		}
		var c dynsecConfig
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	users := func(c dynsecConfig) []string {
		var u []string
		for _, cl := range c.Clients {
			u = append(u, cl.Username)
		}
		return u
	}
	mustCLI(t, clk, "init", "-dir", dir, "-host", "127.0.0.1")
	if got := users(read()); !slices.Equal(got, []string{"kinline-central"}) {
		t.Fatalf("after init: clients %v", got)
	}
	mustCLI(t, clk, "appliance", "-dir", dir, "-id", "block-a-1")
	mustCLI(t, clk, "appliance", "-dir", dir, "-id", "block-b-1")
	c := read()
	if got := users(c); !slices.Equal(got, []string{"kinline-central", "block-a-1", "block-b-1"}) {
		t.Fatalf("after two appliances: clients %v", got)
	}
	for _, d := range []string{"publishClientSend", "publishClientReceive", "subscribe"} {
		if c.Default[d] {
			t.Errorf("default %s allowed: everything not granted must be refused", d)
		}
	}
	for _, r := range c.Roles {
		if r.Name != "appliance-block-a-1" {
			continue
		}
		want := []dynsecACL{
			{"publishClientSend", "kinline/v1/appliances/block-a-1/up/#", true},
			{"publishClientReceive", "kinline/v1/appliances/block-a-1/down/#", true},
			{"subscribePattern", "kinline/v1/appliances/block-a-1/down/#", true},
		}
		if !slices.Equal(r.ACLs, want) {
			t.Fatalf("block-a-1's rules %v, want %v", r.ACLs, want)
		}
	}
	mustCLI(t, clk, "revoke", "-dir", dir, "-id", "block-a-1")
	if got := users(read()); !slices.Equal(got, []string{"kinline-central", "block-b-1"}) {
		t.Fatalf("after revoking block-a-1: clients %v", got)
	}
	os.Remove(filepath.Join(dir, fileDynsec))
	mustCLI(t, clk, "mosquitto", "-dir", dir)
	if got := users(read()); !slices.Equal(got, []string{"kinline-central", "block-b-1"}) {
		t.Fatalf("kinline-provision mosquitto: clients %v", got)
	}
}
