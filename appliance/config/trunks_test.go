package config

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl/trunks"
)

// TestExampleTrunks: the example's trunks and routes become call
// control's, defaults filled in.
func TestExampleTrunks(t *testing.T) {
	data, err := os.ReadFile("../cmd/kinline-appliance/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	tc := c.SIP.TrunkConfig()
	if len(tc.Trunks) != 3 || len(tc.Routes) != 3 {
		t.Fatalf("trunks %+v routes %+v", tc.Trunks, tc.Routes)
	}
	a, b, gw := tc.Trunks[0], tc.Trunks[1], tc.Trunks[2]
	if a.Name != "carrier-a" || a.MaxCalls != 30 || a.KeepAlive != 30*time.Second || a.Timeout != 5*time.Second || a.Domain != "trunk.prison.local" {
		t.Errorf("carrier-a = %+v", a)
	}
	if b.Transport != "tcp" || b.DownAfter != 3 || b.Domain != b.Address || !tc.UsesTCP() {
		t.Errorf("carrier-b = %+v", b)
	}
	if gw.KeepAlive != 0 || gw.Timeout != trunks.DefaultTimeout || gw.Transport != "udp" {
		t.Errorf("pstn-gw = %+v", gw)
	}
	tb, err := trunks.New(tc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ num, typ, first string }{{"+34911", "international", "carrier-b"}, {"0800123", "national", "pstn-gw"}, {"0611", "mobile", "carrier-a"}} {
		if got, err := tb.Route(r.num, r.typ); err != nil || got[0] != r.first {
			t.Errorf("route %s (%s) = %v %v, want %s first", r.num, r.typ, got, err, r.first)
		}
	}
}

// TestSingleTrunkStillWorks: the single sip.trunk of earlier configs is
// one trunk named "trunk" with a catch-all route.
func TestSingleTrunkStillWorks(t *testing.T) {
	c, err := Parse([]byte("appliance_id: a1\nsync: {broker: tcp://x:1}\nsip: {trunk: {address: '10.0.0.1:5060', transport: tcp}, terminals: [{id: t1, sip_user: u, password: p}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tc := c.SIP.TrunkConfig()
	if len(tc.Trunks) != 1 || tc.Trunks[0].Name != trunks.DefaultName || tc.Trunks[0].Address != "10.0.0.1:5060" || tc.Trunks[0].Transport != "tcp" {
		t.Fatalf("trunks = %+v", tc.Trunks)
	}
	if len(tc.Routes) != 1 || tc.Routes[0].Prefix != "" || len(tc.Routes[0].Types) != 0 || !slices.Equal(tc.Routes[0].Trunks, []string{trunks.DefaultName}) {
		t.Fatalf("routes = %+v", tc.Routes)
	}
}

func TestTrunksInvalid(t *testing.T) {
	base := "appliance_id: a1\nsync: {broker: tcp://x:1}\nsip: {terminals: [{id: t1, sip_user: u, password: p}], TRUNKS}\n"
	for name, trunksYAML := range map[string]string{
		"none":               "",
		"both":               "trunk: {address: 'x:1'}, trunks: [{name: a, address: 'y:1'}]",
		"routes single":      "trunk: {address: 'x:1'}, routes: [{prefix: '+', trunks: [trunk]}]",
		"unnamed":            "trunks: [{address: 'y:1'}]",
		"duplicate":          "trunks: [{name: a, address: 'y:1'}, {name: a, address: 'z:1'}]",
		"unknown in route":   "trunks: [{name: a, address: 'y:1'}], routes: [{trunks: [b]}]",
		"bad type":           "trunks: [{name: a, address: 'y:1'}], routes: [{types: [premium], trunks: [a]}]",
		"bad prefix":         "trunks: [{name: a, address: 'y:1'}], routes: [{prefix: '00', trunks: [a]}]",
		"negative max calls": "trunks: [{name: a, address: 'y:1', max_calls: -1}]",
		"bad keepalive":      "trunks: [{name: a, address: 'y:1', keepalive: 10ms}]",
		"unknown key":        "trunks: [{name: a, address: 'y:1', weight: 3}]",
	} {
		doc := strings.Replace(base, "TRUNKS", trunksYAML, 1)
		if trunksYAML == "" {
			doc = strings.Replace(base, ", TRUNKS", "", 1)
		}
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}
