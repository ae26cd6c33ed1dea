package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeHeartbeat(t *testing.T) {
	if h, err := DecodeHeartbeat("blk-a", []byte(`{"v":1,"appliance_id":"blk-a"}`)); err != nil || h.ApplianceID != "blk-a" {
		t.Fatalf("good heartbeat: %+v %v", h, err)
	}
	for name, c := range map[string]struct {
		data string
		want error
	}{
		"other appliance": {`{"v":1,"appliance_id":"blk-b"}`, ErrOtherAppliance},
		"no appliance":    {`{"v":1}`, ErrMalformed},
		"wildcard id":     {`{"v":1,"appliance_id":"+"}`, ErrMalformed},
		"version":         {`{"v":2,"appliance_id":"blk-a"}`, ErrVersion},
		"no version":      {`{"appliance_id":"blk-a"}`, ErrVersion},
		"not json":        {`online`, ErrMalformed},
		"array":           {`[1]`, ErrMalformed},
		"huge":            {`{"v":1,"appliance_id":"blk-a","x":"` + strings.Repeat("a", MaxHeartbeatSize) + `"}`, ErrMalformed},
	} {
		if _, err := DecodeHeartbeat("blk-a", []byte(c.data)); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}
