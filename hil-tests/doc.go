// Package hiltests holds Kinline's end-to-end and hardware-in-the-loop tests.
// They run the real binaries (built once in TestMain) against real peers:
// card readers simulated on pseudo-terminals speaking the PN532 protocol,
// SIP phones speaking SIP and RTP over loopback, sipp (Debian sip-tester)
// playing the IAD port and the trunk.
//
// A test whose peer is missing skips with a message saying which; with
// KINLINE_REQUIRE_PEERS=1 (set by .ci/run) it fails instead. `go test -short`
// skips the whole tier.
package hiltests
