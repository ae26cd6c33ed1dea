package config

import (
	"os"
	"testing"
	"time"
)

// TestExampleSessionExpires: the example sets the trunk's session
// interval (RFC 4028).
func TestExampleSessionExpires(t *testing.T) {
	data, err := os.ReadFile("../cmd/kinline-appliance/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if c.SIP.SessionExpires != 10*time.Minute {
		t.Fatalf("sip.session_expires = %v, want 10m", c.SIP.SessionExpires)
	}
}
