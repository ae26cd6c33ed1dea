package load

// The hotline round: pick-up to the family phone ringing through the IVR.
// Each port hotlines to the appliance (INVITE to HotlineNumber), the
// appliance answers and runs its dialogue, the port keys the PIN, "#", 1
// and the number as RFC 4733 telephone-events (sipp's play_dtmf, every
// key at once from the answer: the IVR keeps keys typed ahead and a key
// stops the prompt playing), the appliance reads the number back and
// places the trunk call, and the trunk rings (180). The time is taken
// from sipp's own clock stamps in two processes: the IAD's just before
// its first INVITE, the trunk's once its 180 is sent.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/appliance/prompts"
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/tools/stack"
)

// The hotline round's dialling plan.
const (
	// HotlineNumber is the number the ports hotline to on pick-up
	// (sip.hotline_number in the appliance config the harness writes).
	HotlineNumber = "100"
	// HotlinePIN is every hotline caller's PIN.
	HotlinePIN = "4321"
)

// sipp's play_dtmf (3.6.1): 400 ms of filler packets (a new SSRC warming
// up), then key n (from 1) starts n x 2 x tone after them; each lasts one
// tone length and its three end packets follow at once.
const dtmfFiller = 400 * time.Millisecond

// keyed is person i's approved number as keyed on a phone: "00" for "+".
func keyed(i int) string { return "00" + strings.TrimPrefix(number(i), "+") }

// hotlineKeys is what port i keys after the answer: the PIN and "#", 1 at
// the menu (make a call), the number and "#".
func hotlineKeys(i int) string { return HotlinePIN + "#1" + keyed(i) + "#" }

// lastKeyAt is when sipp sends the first packet of the last of n keys of
// tone length tone, counted from the play_dtmf action: the moment the
// appliance has the whole entry.
func lastKeyAt(n int, tone time.Duration) time.Duration {
	return dtmfFiller + time.Duration(n)*2*tone
}

// keysLength is how long sipp plays n keys of tone length tone: until the
// last key's end packets.
func keysLength(n int, tone time.Duration) time.Duration {
	return lastKeyAt(n, tone) + tone + 20*time.Millisecond
}

// readBack is how long the appliance's confirmation of number plays (to
// the person, while the trunk call is placed and rings; the round keeps
// its calls up past it): "calling" and the number digit by
// digit, in English, from the prompt assets the appliance plays (a call
// with a time limit would add "you have N minutes"; the harness's people
// have none).
func readBack(number string) (time.Duration, error) {
	ids := []prompts.ID{prompts.Calling}
	d, err := prompts.DigitIDs(number)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	audio, err := prompts.Sequence("en", append(ids, d...)...)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	return time.Duration(len(audio)) * time.Second / prompts.SampleRate, nil
}

// hotlineCall is one hotline call's clock stamps.
type hotlineCall struct {
	pickup, answered, keys, ring time.Time
	readBack                     time.Duration
}

// setPINs gives the first n people HotlinePIN and waits until the
// appliance applies a policy newer than the one it had.
func (r *runner) setPINs(ctx context.Context, n int) error {
	before, err := r.st.Appliance(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	for i := range n {
		if err := r.st.Do(ctx, "PATCH", "/api/v1/inmates/"+r.ids[i], map[string]any{"pin": HotlinePIN}, nil); err != nil {
			return fmt.Errorf("%w: PIN of person %d: %w", ErrSetup, i, err)
		}
	}
	err = stack.WaitFor(ctx, time.Minute, "the appliance to apply the policy with the PINs", func() error {
		if r.alive() != nil {
			return nil
		}
		a, err := r.st.Appliance(ctx)
		if err != nil {
			return err
		}
		if a.PolicyVersionCurrent <= before.PolicyVersionCurrent || a.PolicyVersionApplied < a.PolicyVersionCurrent {
			return fmt.Errorf("applied %d, current %d (was %d)", a.PolicyVersionApplied, a.PolicyVersionCurrent, before.PolicyVersionCurrent)
		}
		return nil
	})
	if err == nil {
		err = r.alive()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSetup, err)
	}
	return nil
}

// hotlineRound places o.Hotline hotline calls (terminals 1..o.Hotline,
// each tapped first) and fills res's hotline measures.
func (r *runner) hotlineRound(ctx context.Context, res *Result) (time.Time, error) {
	o := r.o
	n := o.Hotline
	nkeys := len(hotlineKeys(0))
	play := keysLength(nkeys, o.KeyTone)
	spread := time.Duration(float64(n-1) / o.HotlineRate * float64(time.Second))
	// The last call's keys must reach the IVR within the tap window, with
	// room for the ramp's own delays.
	if spread+play+10*time.Second > r.tapWindow {
		return time.Time{}, fmt.Errorf("%w: %d hotline calls at %v/s take %v to place, more than the tap window (%v) allows: raise -hotline-rate",
			ErrOptions, n, o.HotlineRate, spread, r.tapWindow)
	}
	readBacks := make([]time.Duration, n)
	for i := range n {
		d, err := readBack(keyed(i))
		if err != nil {
			return time.Time{}, err
		}
		readBacks[i] = d
	}
	if err := r.setPINs(ctx, n); err != nil {
		return time.Time{}, err
	}
	if err := sleep(ctx, 2500*time.Millisecond); err != nil { // the driver's 2 s same-card window
		return time.Time{}, err
	}
	if err := r.tap(ctx, n); err != nil {
		return time.Time{}, err
	}
	// Off-hook after the keys: the read-back, ringing (200 ms), the talk
	// time bridged, and a margin for the appliance's own delays.
	hold := slices.Max(readBacks) + 5*time.Second + o.HotlineTalk
	start := time.Now()
	p, err := r.startHotlineIAD(ctx, n, play, hold)
	if err != nil {
		return time.Time{}, err
	}
	if err := p.wait(ctx, spread+play+hold+2*time.Minute); err != nil {
		return time.Time{}, err
	}
	iadLog, err := p.logLines()
	if err != nil {
		return time.Time{}, err
	}
	trunkLog, err := r.trunk.logLines()
	if err != nil {
		return time.Time{}, err
	}
	calls, err := matchHotline(iadLog, trunkLog, r.users[:n], start)
	if err != nil {
		return time.Time{}, err
	}
	for i, c := range calls {
		c.readBack = readBacks[i]
		calls[i] = c
	}
	res.hotline(calls, nkeys, o.KeyTone)
	return start, nil
}

// matchHotline pairs each port's IAD stamps with the trunk's ring for its
// number (the E.164 form of what the port keyed) at or after start, one
// call per user, in users' order.
func matchHotline(iad, trunk []logLine, users []string, start time.Time) ([]hotlineCall, error) {
	index := make(map[string]int, len(users))
	for i, u := range users {
		index[u] = i
	}
	byNumber := make(map[string]int, len(users))
	for i := range users {
		// The trunk is asked for the E.164 number the policy matched,
		// not the keys as pressed.
		byNumber[policy.NormalizeNumber(keyed(i))] = i
	}
	calls := make([]hotlineCall, len(users))
	set := func(t *time.Time, at time.Time, what, who string) error {
		if !t.IsZero() {
			return fmt.Errorf("%w: two %q stamps for %s", ErrCalls, what, who)
		}
		*t = at
		return nil
	}
	for _, l := range iad {
		i, ok := index[l.who]
		if !ok {
			return nil, fmt.Errorf("%w: IAD stamp for unknown port %q", ErrCalls, l.who)
		}
		var err error
		switch l.what {
		case "pickup":
			err = set(&calls[i].pickup, l.at, l.what, l.who)
		case "answered":
			err = set(&calls[i].answered, l.at, l.what, l.who)
		case "keys":
			err = set(&calls[i].keys, l.at, l.what, l.who)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, l := range trunk {
		if l.what != "ring" || l.at.Before(start) {
			continue
		}
		user, _, _ := strings.Cut(strings.TrimPrefix(l.who, "sip:"), "@")
		i, ok := byNumber[user]
		if !ok {
			continue // a direct-dialled call of another round
		}
		if err := set(&calls[i].ring, l.at, l.what, user); err != nil {
			return nil, err
		}
	}
	for i, c := range calls {
		if c.pickup.IsZero() || c.answered.IsZero() || c.keys.IsZero() || c.ring.IsZero() {
			return nil, fmt.Errorf("%w: hotline call on %s incomplete: pickup %v, answered %v, keys %v, ring %v",
				ErrCalls, users[i], !c.pickup.IsZero(), !c.answered.IsZero(), !c.keys.IsZero(), !c.ring.IsZero())
		}
		if c.answered.Before(c.pickup) || c.keys.Before(c.answered) || c.ring.Before(c.keys) {
			return nil, fmt.Errorf("%w: hotline call on %s: stamps out of order (pickup %s, answered %s, keys %s, ring %s)", ErrCalls, users[i],
				c.pickup.Format(time.StampMicro), c.answered.Format(time.StampMicro), c.keys.Format(time.StampMicro), c.ring.Format(time.StampMicro))
		}
	}
	return calls, nil
}

// hotline fills the hotline measures from calls.
func (res *Result) hotline(calls []hotlineCall, nkeys int, tone time.Duration) {
	res.HotlineCalls, res.HotlineKeys, res.KeyTone = len(calls), nkeys, tone
	last := lastKeyAt(nkeys, tone)
	for _, c := range calls {
		res.HotlineRing = append(res.HotlineRing, c.ring.Sub(c.pickup))
		res.HotlineAnswer = append(res.HotlineAnswer, c.answered.Sub(c.pickup))
		entered := c.keys.Add(last)
		res.HotlineKeying = append(res.HotlineKeying, entered.Sub(c.answered))
		res.HotlineSetup = append(res.HotlineSetup, c.ring.Sub(entered))
	}
}

// startHotlineIAD runs sipp as the IAD for the hotline round: calls calls
// at o.HotlineRate, each keying for play, then off-hook for hold.
func (r *runner) startHotlineIAD(ctx context.Context, calls int, play, hold time.Duration) (*sippProc, error) {
	p, _, err := startSippFree(ctx, filepath.Join(r.o.Dir, "sipp-iad-hotline"), filepath.Join(r.o.Scenarios, "iad_hotline_load.xml"), func() ([]string, error) {
		return []string{"-s", HotlineNumber,
			// sipp's digest uri would be sip:<appliance>, and the
			// appliance binds it to the Request-URI.
			"-auth_uri", HotlineNumber + "@" + r.st.SIPAddr,
			"-inf", filepath.Join(r.o.Dir, "hotline.csv"),
			"-set", "keyms", strconv.FormatInt(play.Milliseconds(), 10),
			"-r", strconv.FormatFloat(r.o.HotlineRate, 'f', -1, 64), "-l", strconv.Itoa(calls), "-m", strconv.Itoa(calls),
			"-d", strconv.FormatInt(hold.Milliseconds(), 10),
			"-mp", strconv.Itoa(r.mediaBase()),
			"-trace_logs",
			"-timeout", strconv.Itoa(int((play + hold + 2*time.Minute).Seconds())) + "s",
			r.st.SIPAddr}, nil
	})
	return p, err
}

// hotlineCSV is the hotline round's injection file: port, credentials,
// and the keys with sipp's tone length.
func (r *runner) hotlineCSV() []byte {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for i, u := range r.users[:r.o.Hotline] {
		fmt.Fprintf(&b, "%s;[authentication username=%s password=%s-secret];%s,%d\n", u, u, u, hotlineKeys(i), r.o.KeyTone.Milliseconds())
	}
	return []byte(b.String())
}

// logLine is one line a scenario's log action wrote with -trace_logs:
// "<what> <who> <date> <time> <epoch seconds>.<microseconds>".
type logLine struct {
	what, who string
	at        time.Time
}

// logWhat are the stamps the load scenarios write.
var logWhat = []string{"pickup", "answered", "keys", "ring"}

// logLines reads the stamps sipp wrote with -trace_logs.
func (p *sippProc) logLines() ([]logLine, error) {
	files, _ := filepath.Glob(filepath.Join(p.dir, "*_logs.log"))
	if len(files) != 1 {
		return nil, fmt.Errorf("%w: %d log files in %s", ErrSipp, len(files), p.dir)
	}
	f, err := os.Open(files[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSipp, err)
	}
	defer f.Close()
	return parseSippLog(f)
}

// parseSippLog reads a sipp log file, keeping the lines of the load
// scenarios' stamps (first word one of logWhat); sipp's own lines (errors,
// warnings) are skipped. A stamp line that does not parse is an error.
func parseSippLog(rd io.Reader) ([]logLine, error) {
	var out []logLine
	sc := bufio.NewScanner(rd)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !slices.Contains(logWhat, f[0]) {
			continue
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("%w: log line %q: want 5 fields", ErrSipp, sc.Text())
		}
		at, err := parseEpoch(f[4])
		if err != nil {
			return nil, fmt.Errorf("%w: log line %q: %w", ErrSipp, sc.Text(), err)
		}
		out = append(out, logLine{what: f[0], who: f[1], at: at})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSipp, err)
	}
	return out, nil
}

// parseEpoch parses sipp's "<seconds>.<microseconds>" since 1970.
func parseEpoch(s string) (time.Time, error) {
	sec, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 6 {
		return time.Time{}, fmt.Errorf("epoch %q: want <seconds>.<6 digits>", s)
	}
	n, err1 := strconv.ParseInt(sec, 10, 64)
	us, err2 := strconv.ParseInt(frac, 10, 64)
	// Up to the year 5138; no sign, no exponent.
	if err1 != nil || err2 != nil || n < 0 || us < 0 || n > math.MaxInt64/int64(time.Second)/2 || strings.ContainsAny(s, "+-") {
		return time.Time{}, fmt.Errorf("epoch %q: not a time", s)
	}
	return time.Unix(n, us*1000), nil
}
