package broker

import (
	"testing"
	"time"

	"github.com/kinline/kinline/shared/mqttsub"
	"github.com/kinline/kinline/shared/wire"
)

// The broker's ACL refusals arrive as SUBACK return codes, which paho does
// not report as an error: mqttsub.Subscribe must name the refused filters.
func TestSubscribeReportsRefusedFilters(t *testing.T) {
	b := startBroker(t)
	a, err := dial(t, b, "blk-a", "blk-a", "secret-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	refused, err := mqttsub.Subscribe(a, map[string]byte{
		wire.TopicAck("blk-a"): 1,
		wire.TopicAck("blk-b"): 1,
		"#":                    1,
	}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 2 || refused[0] != "#" || refused[1] != wire.TopicAck("blk-b") {
		t.Fatalf("refused = %q, want # and blk-b's ack topic", refused)
	}
}
