package wire

// CapabilityVersion numbers what a build of this package understands of
// the protocol (after tailscale's tailcfg.CapabilityVersion). It grows by
// one with every change to the messages, additive or not, and each number
// has a dated line in the history below. It is not sent on the wire: the
// messages carry ProtocolVersion (and batches BatchVersion), which change
// only when a peer of the older version could no longer understand them.
// The capability number is what a changelog, a release note, a test or a
// compatibility table names ("central needs capability 14 for appliances
// that start a new event chain").
//
// History (every line is additive on ProtocolVersion 1 unless it says
// otherwise; an additive field is omitempty and ignored by peers without
// it):
//
//   - 1, 2026-11-22: first version: events, acks, policy snapshots,
//     one-piece recordings.
//   - 2, 2026-11-22: signatures. Batch.Signature (appliance's event key)
//     and Policy.Signature (central's policy key), ed25519 over the
//     canonical forms of shared/sign. Optional on the wire (omitempty); a
//     peer configured with the other side's key requires them.
//   - 3, 2026-11-22: money. EventLedger with LedgerEntry payloads
//     (appliance call debits), MoneyPolicy (rates, balances, quotas and
//     the IncludedSeq watermark) for central to carry in a block's policy.
//     Peers without these types see no money: every call is unrated (see
//     money.go).
//   - 4, 2026-11-22: dual authorization. Policy.Rules (CallRule per
//     supervision level), Person.SupervisionLevel, Person.Confirm and
//     Person.ConfirmWindowSeconds (per-person override);
//     CallRecord.OfficerID, ConfirmMethod and EndedBy. Every new field
//     means "no officer involved" when absent, so peers without them
//     still agree.
//   - 5, 2026-11-22: chunked recording uploads. RecordingChunk and
//     RecordingChunkAck on their own topics, with resume (see chunks.go);
//     a central without them never subscribes to the chunk topic.
//   - 6, 2026-11-22: the called party's side. EventNumberBlocked with
//     NumberBlocked payloads (the called party pressed 9); peers that do
//     not know the type store it as an opaque event (see ivr.go).
//   - 7, 2026-11-22: commands. Command (signed, with an id and an expiry)
//     on TopicCommands, CommandAnswer on TopicCommandAnswers, and
//     EventCommand with CommandRecord payloads (see commands.go).
//   - 8, 2026-11-22: call rules, schedules and the prison-wide number
//     list. Window, NumberAttr, CallRule quotas and windows,
//     Policy.Prison, TimeZone, Windows and Numbers (see rules.go).
//   - 9, 2026-12-01: policy deltas. Central may publish a PolicyDelta
//     (retained, on TopicPolicyDelta) instead of a whole Policy when it
//     is smaller. It turns the policy of version BaseVersion into the one
//     of Version; its Signature is central's policy signature of the
//     resulting Policy (shared/sign.SignPolicy), so the result verifies
//     like a snapshot. An appliance whose policy is not at BaseVersion
//     keeps its policy and publishes a PolicyRequest on
//     TopicPolicyRequest; central answers with a snapshot on TopicPolicy.
//     Peers without deltas keep working from snapshots (central publishes
//     one after every reconnect and on request). See policydelta.go.
//   - 10, 2026-12-01: recording levels. RecordingRef.Levels, each leg's
//     measured audio (LegLevel).
//   - 11, 2026-12-01: per-person quotas. Person.CallsPerDay, CallsPerWeek
//     and CallsPerMonth replace the rule's quota per period (absent means
//     the rule's). The policy signature covers them (shared/sign's policy
//     form v3).
//   - 12, 2026-12-02: the rate a call was priced with. CallRecord.Rate
//     (PricedRate), so that reports group a call by the rate it was
//     charged at.
//   - 13, 2026-12-02: calls in progress. EventCallStarted (CallStarted)
//     and EventCallsCleared (CallsCleared) payloads, so central lists the
//     calls started and not ended (see inprogress.go).
//   - 14, 2026-12-08: BatchVersion 2 (batches only): event chains that
//     start again, and replays. Event.Epoch names the chain an event
//     belongs to: an appliance whose data directory is new (a replacement
//     provisioned under the same id) or was put back from a backup starts
//     a new chain with a new random epoch, its first event without a
//     PrevHash, and central keeps every chain of the appliance apart
//     (keyed by appliance, epoch and seq) instead of taking the new
//     chain's events for conflicting copies of the old one. The Hash
//     covers the epoch when it is set. Batch.Acked is the highest seq of
//     the batch's chain the appliance had applied an Ack for when it built
//     the batch (signed: shared/sign's batch form v2), so central can tell
//     a batch replayed after its acknowledgement from a resend. Ack gains
//     Epoch, Hash (of central's event at UpTo) and Conflict, additive on
//     V 1 acks, so that an appliance can tell that central's chain is not
//     its own. Central accepts batches of V 1 (old appliances: epoch "")
//     and 2; every other message stays at ProtocolVersion.
//   - 15, 2026-12-08: calls closed on restart. Disposition DispRestarted
//     ("appliance_restarted") for a call the appliance died with,
//     recorded at its next start with its debit and recovered recording,
//     and the alarm code "calls_closed_on_restart". A central that does
//     not know the disposition stores it like any other.
//   - 16, 2026-12-08: Ack.Resend. Central sends it to every appliance when
//     its ingest (re)subscribes, so that batches published while no ingest
//     was listening are sent again at once rather than after the
//     appliance's ack timeout. A peer without it ignores it.
//   - 17, 2026-12-08: CallRecord.Trunk, the name of the SIP trunk that
//     carried the call (an appliance may have several, with failover).
//   - 18, 2026-12-08: the alarm code "refusals_suppressed" (Source: the
//     terminal): a port's refused attempts past sip.refusal_flood's rate
//     are counted, not each sent as a call record, and this alarm gives
//     their count, interval and counts by reason every 10 s of the flood,
//     Cleared on the one written when it ends. A central that does not
//     know the code stores and shows it like any other alarm.
//   - 19, 2026-12-08: charging as a prison setting.
//     MoneyPolicy.Charging "on" says the prison charges for calls: a call
//     that is not free and matches no rate is refused, also with no
//     rates at all (central then sends a money part with empty Rates;
//     before, it sent none while no rate was set). Central sends no money
//     part while charging is off. A peer without the field treats a money
//     part as charging, which is what it means. Not signed (see
//     money.go); any other value makes the policy malformed.
//   - 20, 2026-12-08: versions on the fleet. Status.Capability, the
//     capability the appliance was built with, beside Status.Software,
//     now its release (shared/version: git describe at build time);
//     Status.Software is bounded (MaxIDLen, no control characters). A
//     central without it ignores the field; absent, the appliance is of
//     capability 19 or older. Which versions work together:
//     docs/COMPATIBILITY.md.
//   - 21, 2026-12-08: Command.By, who sent a command at central ("user:alice
//     (Alice Smith)"), bounded (MaxCommandByLen, no control characters)
//     and outside the signature. An appliance records it as the
//     CallRecord.EndedBy of a call its end_call ended (before, "central").
//     An appliance without it ignores the field and still verifies the
//     command; a central without it sends none and the record says
//     "central" as before.
//   - 22, 2026-12-08: heartbeats. A connected appliance publishes a
//     Heartbeat on TopicHeartbeat (QoS 0, not retained) when it connects
//     and every HeartbeatInterval, and central counts it as heard from on
//     arrival, so that an idle connected appliance stays online (see
//     heartbeat.go). A central without it ignores the topic (the
//     appliance then shows offline while idle, as before); an appliance
//     without it is online only while it sends events.
//
// To change the messages: add the change, bump CurrentCapabilityVersion
// and add its dated line here; bump ProtocolVersion or BatchVersion only
// when an older peer would misread the new messages.
type CapabilityVersion int

// CurrentCapabilityVersion is the capability of this build (see
// CapabilityVersion's history).
const CurrentCapabilityVersion CapabilityVersion = 22
