package phone

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A port calling a family phone directly (no appliance, no challenge):
// the call is answered after 180, tone RTP flows both ways, BYE ends it.
func TestPortCallsFamilyDirectly(t *testing.T) {
	fam, err := NewFamily(FamilyConfig{RingFor: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer fam.Close()
	port, err := NewPort(PortConfig{Appliance: fam.Addr().String(), User: "port1", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := port.Call(ctx, "0611223344", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Answered || res.Code != 200 || len(res.Provisional) == 0 || res.Provisional[0] != 180 {
		t.Fatalf("result = %+v", res)
	}
	if res.RTP.Sent < 40 || res.RTP.Received < 20 {
		t.Fatalf("RTP = %+v", res.RTP)
	}
	select {
	case fc := <-fam.Results():
		if !fc.Answered || fc.Number != "0611223344" || fc.RTP.Received < 20 || !strings.Contains(string(fc.Offer), "telephone-event") {
			t.Fatalf("family call = %+v", fc)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("family call did not end")
	}
}

func TestFamilyRejectsAndHangsUp(t *testing.T) {
	busy, err := NewFamily(FamilyConfig{Reject: 486, RingFor: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port, err := NewPort(PortConfig{Appliance: busy.Addr().String(), User: "port1"})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = port.Dial(ctx, "1", nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 486 || se.Reason != "Busy Here" {
		t.Fatalf("dial err = %v, want 486", err)
	}

	hang, err := NewFamily(FamilyConfig{HangupAfter: 200 * time.Millisecond, RingFor: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	port2, err := NewPort(PortConfig{Appliance: hang.Addr().String(), User: "port1"})
	if err != nil {
		t.Fatal(err)
	}
	defer port2.Close()
	res, err := port2.Call(ctx, "2", 15*time.Second)
	if err != nil || !res.RemoteHangup {
		t.Fatalf("result %+v, %v: want remote hangup", res, err)
	}
	if fc := <-hang.Results(); !fc.HungUp {
		t.Fatalf("family = %+v", fc)
	}
}

func TestPortConfigErrors(t *testing.T) {
	for _, cfg := range []PortConfig{{Appliance: "nope", User: "u"}, {Appliance: "127.0.0.1:0", User: "u"}, {Appliance: "127.0.0.1:5060"}} {
		if _, err := NewPort(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("NewPort(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}
