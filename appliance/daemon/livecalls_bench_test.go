package daemon

import (
	"fmt"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl"
	"github.com/kinline/kinline/shared/wire"
)

// BenchmarkWriteCheckpoints measures one periodic write of 1,000
// answered calls' checkpoints (one bbolt transaction every
// checkpointEvery).
func BenchmarkWriteCheckpoints(b *testing.B) {
	t0 := time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)
	s, _ := systemIn(b, b.TempDir(), t0)
	b.Cleanup(s.closeEarly)
	for i := range 1000 {
		id := fmt.Sprintf("call-%04d", i)
		answer := t0
		s.live.add(id, &checkpoint{
			Record:  wire.CallRecord{CallID: id, PersonID: "A", Terminal: "t1", Number: numRecorded, Start: t0, Answer: &answer},
			Pricing: storedPricing{Rated: true, Rate: restartRate},
			Trunk:   &callctl.Dialog{CallID: id, From: "<sip:kinline@10.0.0.1>;tag=a", To: "<sip:+441110001@trunk>;tag=b", RemoteTarget: "sip:gw@192.0.2.1", CSeq: 1, Transport: "UDP"},
			Port:    &callctl.Dialog{CallID: "p" + id, From: "<sip:+441110001@10.0.0.1>;tag=c", To: "<sip:u@10.0.0.2>;tag=d", RemoteTarget: "sip:u@10.0.0.2:5062", CSeq: 2, Transport: "UDP"},
		})
	}
	b.ResetTimer()
	for b.Loop() {
		if err := s.writeCheckpoints(true); err != nil {
			b.Fatal(err)
		}
	}
}
