package load

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Markdown renders the result as the rows docs/PERFORMANCE.md keeps, with
// machine (a one-line description) on top.
func (r *Result) Markdown(machine string) string {
	var b strings.Builder
	mb := func(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintf(&b, "Machine: %s\n\n", machine)
	fmt.Fprintf(&b, "| measure | result |\n|---|---|\n")
	fmt.Fprintf(&b, "| concurrent recorded PCMU calls (sipp IAD -> appliance -> sipp trunk echo) | %d, all %d attempts completed |\n", r.Calls, r.Attempts)
	fmt.Fprintf(&b, "| steady-state window (every call up, none starting or ending) | %.1f s |\n", r.Window.Seconds())
	fmt.Fprintf(&b, "| appliance CPU, idle (%d readers polled, MQTT up) | %.3f cores |\n", r.Calls, r.IdleCores)
	fmt.Fprintf(&b, "| appliance CPU, %d calls up | %.3f cores |\n", r.Calls, r.LoadCores)
	fmt.Fprintf(&b, "| CPU per recorded call (net of idle) | %.2f ms per second of talk (%.2f%% of a core) |\n", r.CPUPerCall*1000, r.CPUPerCall*100)
	fmt.Fprintf(&b, "| recorded calls per core (derived) | %.0f |\n", r.CallsPerCore)
	fmt.Fprintf(&b, "| call setup CPU per call during the ramp (net of idle, RTP of calls already up included) | %.2f ms |\n", float64(r.SetupCPUPerCall)/float64(time.Millisecond))
	fmt.Fprintf(&b, "| sipp (IAD + trunk) CPU in the window / machine busy | %.3f cores / %.0f%% of all cores |\n", r.SippCores, r.MachineBusy*100)
	fmt.Fprintf(&b, "| appliance RSS idle / with %d calls up (max VmRSS in window) | %s / %s |\n", r.Calls, mb(r.IdleRSS), mb(r.RSS))
	fmt.Fprintf(&b, "| appliance VmHWM (peak RSS) after the ramp / after the hang-ups | %s / %s |\n", mb(r.HWMSetup), mb(r.HWM))
	fmt.Fprintf(&b, "| pickup to ringing (first INVITE to 180 at the port), %d calls | p50 %s, p99 %s, max %s; p99 during the load ramp %s |\n",
		len(r.Ring), ms(r.RingP50), ms(r.RingP99), ms(r.RingMax), ms(r.RingUnderLoad))
	if r.Plain {
		fmt.Fprintf(&b, "| recordings on the appliance's disk with the calls up, **plain** (-plain-recordings, for comparison only) | %d of %d |\n", r.AtRest, r.Calls)
	} else {
		fmt.Fprintf(&b, "| recordings on the appliance's disk with the calls up, encrypted at rest (AES-256-GCM, the installation's key) | %d of %d |\n", r.AtRest, r.Calls)
	}
	if r.Recordings > 0 {
		fmt.Fprintf(&b, "| recordings fetched from central and checked (SHA-256 of the call record, 440 Hz both channels) | %d, %.0f s; frames with audio: port->trunk %d, trunk->port %d (%.1f packets/s per leg per call) |\n",
			r.Recordings, r.RecordedSeconds, r.FramesA, r.FramesB, float64(r.FramesA+r.FramesB)/2/r.RecordedSeconds)
	}
	if r.HotlineCalls > 0 {
		spread := func(ds []time.Duration) string {
			return fmt.Sprintf("p50 %s, p99 %s, max %s", ms(percentile(ds, 0.5)), ms(percentile(ds, 0.99)), ms(slices.Max(ds)))
		}
		fmt.Fprintf(&b, "| hotline: pick-up to the family phone ringing (port's first INVITE to the trunk's 180; card tapped; %d keys as RFC 4733 events from the answer), %d calls at %d ms per key | %s |\n",
			r.HotlineKeys, r.HotlineCalls, (2 * r.KeyTone).Milliseconds(), spread(r.HotlineRing))
		fmt.Fprintf(&b, "| - port answered by the IVR (INVITE, 407, INVITE, 200) | %s |\n", spread(r.HotlineAnswer))
		fmt.Fprintf(&b, "| - keying: the 200 to the last key (sipp's pacing; the prompt playing is cut by the first key) | %s |\n", spread(r.HotlineKeying))
		fmt.Fprintf(&b, "| - call setup after the last key (number check, authorization, trunk INVITE, 180; the number is read back to the person meanwhile), against sipp's nominal key schedule, which its pacing runs up to ~20 ms ahead of: a value below 0 means setup took less than that error | %s |\n", spread(r.HotlineSetup))
		fmt.Fprintf(&b, "| hotline recordings checked as above | %d |\n", r.HotlineRecordings)
	}
	return b.String()
}
