package load

import (
	"fmt"
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
	if r.Recordings > 0 {
		fmt.Fprintf(&b, "| recordings checked (440 Hz both channels) | %d, %.0f s; frames with audio: port->trunk %d, trunk->port %d (%.1f packets/s per leg per call) |\n",
			r.Recordings, r.RecordedSeconds, r.FramesA, r.FramesB, float64(r.FramesA+r.FramesB)/2/r.RecordedSeconds)
	}
	return b.String()
}
