// Package sync holds the sync suite: appliance/syncclient against central's
// real ingest (central/ingest) and broker (central/broker, the embedded
// broker or a real Mosquitto), with central's store or its test fake.
// It lives outside appliance/ because an appliance package's tests may not
// import central (docs/decisions/0023-dependency-rules-and-test-hygiene.md):
// exactly-once delivery, backlogs and outages, recording chunks, event
// chains, TLS identities and topic ACLs, the memory of a long backlog, and
// the benchmarks behind docs/PERFORMANCE.md's sync numbers.
//
// The package has only tests. The Mosquitto tests skip when mosquitto is
// not installed, or fail under KINLINE_REQUIRE_PEERS=1 (testkit.NeedPeer).
package sync
