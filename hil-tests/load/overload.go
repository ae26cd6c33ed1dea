package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kinline/kinline/appliance/config"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/tools/stack"
)

// The overload run (issue 11 item 6, DESIGN.md section 9: appliance RSS
// under 64 MB at any offered SIP rate, shedding with 503 and Retry-After;
// at least 2,000 attempts per second served on 2 cores). It drives the
// real kinline-appliance binary over loopback:
//
//   - refused call attempts ramped through OverloadOptions.Rates, each
//     step OverloadOptions.Step long, by sipp (iad_overload.xml: INVITE,
//     407, ACK, INVITE with digest credentials, the refusal 403 or a 503,
//     ACK), several sipp processes per step when one cannot send the
//     rate; no card is tapped, so every attempt that reaches the
//     authorizer is refused by it and handled as in production: recorded
//     in the outbox, or, past sip.refusal_flood's rate on a port, counted
//     in that port's refusals_suppressed alarms
//     (docs/decisions/0025-refusal-floods.md);
//   - then a burst of INVITEs no one answers the challenge of
//     (OverloadOptions.Unanswered of them at the top rate, from one UDP
//     socket, never ACKed), counting the 407s that come back: a
//     challenge kept by a transaction would come back up to 10 times.
//
// The appliance's VmRSS is sampled every 100 ms throughout; VmHWM at the
// end is the peak the kernel saw. Everything is bounded in count
// (Rates x Step attempts) and time (each step's sipp has a timeout; the
// run has the caller's context).

// OverloadOptions configures RunOverload. Zero values get the defaults
// noted.
type OverloadOptions struct {
	// BinDir holds kinline-appliance (required).
	BinDir string
	// Dir is the working directory (required; kept).
	Dir string
	// Scenarios is the directory of iad_overload.xml (default: beside
	// this file).
	Scenarios string
	// Terminals is the number of IAD ports the attempts come from
	// (default 64).
	Terminals int
	// Rates are the offered attempt rates, per second, one step each
	// (default 500, 1000, 2000, 3000, 4000, 5000).
	Rates []float64
	// Step is each rate's length (default 10 s).
	Step time.Duration
	// PerSipp is the highest rate one sipp process is asked for; a step
	// above it runs several (default 1000).
	PerSipp float64
	// Unanswered is the unanswered INVITEs sent at the top rate after the
	// steps (default 10,000; -1: none).
	Unanswered int
	// Log receives progress (default: discard).
	Log *slog.Logger
}

// OverloadStep is what one offered rate got.
type OverloadStep struct {
	Offered float64 // attempts per second asked of sipp
	// Sent is the attempts sipp started (its first INVITE).
	Sent int
	// Seconds is how long the step's sipp processes took to send them
	// and get their answers.
	Seconds float64
	// Refused are the attempts answered by the authorizer (403): served.
	// Shed are those answered 503 with Retry-After (to the first INVITE
	// or the second). Unanswered are the rest (sipp gave up: no answer in
	// time, or an answer it did not expect).
	Refused, Shed, Unanswered int
	// PeakRSS is the appliance's largest VmRSS sampled in the step, and
	// PeakAnon its largest RssAnon (kB): VmRSS also counts RssFile, the
	// pages of the bbolt file (mapped) the step's call records were
	// written to, which the kernel can drop.
	PeakRSS, PeakAnon int64
}

// Served is the attempts answered by the authorizer per second.
func (s OverloadStep) Served() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return float64(s.Refused) / s.Seconds
}

// Achieved is the attempts sipp started per second.
func (s OverloadStep) Achieved() float64 {
	if s.Seconds <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Seconds
}

// OverloadResult is what RunOverload measured.
type OverloadResult struct {
	IdleRSS int64 // kB before the first step
	Steps   []OverloadStep
	// UnansweredSent INVITEs were sent at UnansweredRate per second and
	// never ACKed; Challenges407 407s came back for them, of which
	// Retransmitted407 were repeats (more than one for a Call-ID).
	UnansweredSent, Challenges407, Retransmitted407 int
	UnansweredRate                                  float64
	UnansweredPeakRSS                               int64
	// PeakRSS and PeakAnon are the largest VmRSS and RssAnon sampled in
	// the whole run, HWM the kernel's VmHWM at its end (kB). StoreBytes
	// is the size of the appliance's bbolt file at the end.
	PeakRSS, PeakAnon, HWM int64
	StoreBytes             int64
}

func (o *OverloadOptions) defaults() error {
	if o.BinDir == "" || o.Dir == "" {
		return fmt.Errorf("%w: BinDir and Dir are required", ErrOptions)
	}
	if o.Scenarios == "" {
		_, file, _, _ := runtime.Caller(0)
		o.Scenarios = filepath.Join(filepath.Dir(file), "sipp")
	}
	if o.Terminals <= 0 {
		o.Terminals = 64
	}
	if len(o.Rates) == 0 {
		o.Rates = []float64{500, 1000, 2000, 3000, 4000, 5000}
	}
	for _, r := range o.Rates {
		if r <= 0 || r > 20000 {
			return fmt.Errorf("%w: rate %v: 1 to 20,000 attempts per second", ErrOptions, r)
		}
	}
	if o.Step <= 0 {
		o.Step = 10 * time.Second
	}
	if o.Step > 5*time.Minute {
		return fmt.Errorf("%w: step %v: at most 5 minutes", ErrOptions, o.Step)
	}
	if o.PerSipp <= 0 {
		o.PerSipp = 1000
	}
	if o.Unanswered == 0 {
		o.Unanswered = 10000
	}
	if o.Unanswered > 1000000 {
		return fmt.Errorf("%w: %d unanswered INVITEs: at most 1,000,000", ErrOptions, o.Unanswered)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// overloadNumber is the number every attempt dials (no one may call it:
// no card is tapped).
const overloadNumber = "0611223344"

// RunOverload runs the overload steps against a fresh appliance and
// reports each step's attempts served, shed and the appliance's RSS.
func RunOverload(ctx context.Context, o OverloadOptions) (*OverloadResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(o.BinDir, "kinline-appliance")); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	r := &runner{o: Options{BinDir: o.BinDir, Dir: o.Dir, LogLevel: "warn"}, log: o.Log}
	defer r.close()
	// One reader on a pty keeps the board's configuration as shipped; no
	// card is ever presented.
	rd, err := readersim.New(readersim.Options{Driver: readersim.DriverPN532, Link: filepath.Join(o.Dir, "reader-0000")})
	if err != nil {
		return nil, fmt.Errorf("%w: reader: %w", ErrSetup, err)
	}
	r.closers = append(r.closers, func() { rd.Close() })
	// The trunk is never reached; central is not started (the appliance
	// works offline, refusing every call for want of a tap).
	st, err := stack.Prepare(stack.Options{Dir: o.Dir, BinDir: o.BinDir, ReaderDevice: rd.Path(), Quiet: true, LogLevel: "warn", PlainRecordings: true})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	r.st = st
	csv, err := overloadConfig(o.Dir, o.Terminals)
	if err != nil {
		return nil, err
	}
	if err := r.startAppliance(); err != nil {
		return nil, err
	}
	pid := r.app.Process.Pid
	if err := waitSIP(ctx, st.SIPAddr, r.alive); err != nil {
		return nil, err
	}
	res := &OverloadResult{}
	rss := newRSSSampler(pid)
	defer rss.stop()
	if err := sleep(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	res.IdleRSS, _ = rss.take()

	for i, rate := range o.Rates {
		n := int(math.Ceil(rate / o.PerSipp))
		per := rate / float64(n)
		attempts := int(per * o.Step.Seconds())
		o.Log.Info("overload step", "rate", rate, "sipp processes", n, "attempts", n*attempts)
		start := time.Now()
		var procs []*sippProc
		for k := range n {
			dir := filepath.Join(o.Dir, fmt.Sprintf("sipp-step%d-%d", i, k))
			p, _, err := startSippFree(ctx, dir, filepath.Join(o.Scenarios, "iad_overload.xml"), func() ([]string, error) {
				return []string{"-inf", csv, "-s", overloadNumber, "-auth_uri", overloadNumber + "@" + st.SIPAddr,
					"-r", strconv.FormatFloat(per, 'f', -1, 64), "-m", strconv.Itoa(attempts), "-l", "5000",
					"-trace_counts", "-fd", "1", "-timeout", strconv.Itoa(int(o.Step.Seconds())+60) + "s",
					"-max_recv_loops", "10000", "-max_sched_loops", "10000", st.SIPAddr}, nil
			})
			if err != nil {
				for _, p := range procs {
					p.stop()
				}
				return nil, err
			}
			procs = append(procs, p)
		}
		step := OverloadStep{Offered: rate}
		for _, p := range procs {
			_ = p.wait(ctx, o.Step+90*time.Second) // sipp exits non-zero when calls failed; counted below
			c, err := readCounts(p.dir)
			if err != nil {
				return nil, err
			}
			step.Sent += c["0_INVITE_Sent"]
			step.Shed += c["2_503_Recv"] + c["7_503_Recv"]
			step.Refused += c["8_403_Recv"]
		}
		step.Seconds = time.Since(start).Seconds()
		step.Unanswered = step.Sent - step.Shed - step.Refused
		step.PeakRSS, step.PeakAnon = rss.take()
		res.Steps = append(res.Steps, step)
		o.Log.Info("overload step done", "rate", rate, "sent", step.Sent, "served_per_s", int(step.Served()), "shed", step.Shed, "peak_rss_kB", step.PeakRSS)
		if err := r.alive(); err != nil {
			return res, err
		}
	}

	if o.Unanswered > 0 {
		rate := o.Rates[len(o.Rates)-1]
		sent, got, repeats, err := unansweredBurst(ctx, st.SIPAddr, o.Unanswered, rate)
		if err != nil {
			return res, err
		}
		res.UnansweredSent, res.Challenges407, res.Retransmitted407, res.UnansweredRate = sent, got, repeats, rate
		res.UnansweredPeakRSS, _ = rss.take()
		if err := r.alive(); err != nil {
			return res, err
		}
	}
	res.PeakRSS, res.PeakAnon = rss.peakAll()
	if fi, err := os.Stat(filepath.Join(o.Dir, "appliance", "state.db")); err == nil {
		res.StoreBytes = fi.Size()
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrProc, err)
	}
	res.HWM = statusKB(b, "VmHWM:")
	return res, nil
}

// overloadConfig writes the appliance's config for the overload run:
// terminals port1..portN (password <user>-secret), log level warn, and
// the injection file sipp reads them from. It returns the file's path.
func overloadConfig(dir string, terminals int) (string, error) {
	path := filepath.Join(dir, "appliance.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSetup, err)
	}
	cfg, err := config.Parse(data)
	if err != nil {
		return "", fmt.Errorf("%w: stack's appliance config: %w", ErrSetup, err)
	}
	cfg.LogLevel = "warn"
	var csv strings.Builder
	csv.WriteString("SEQUENTIAL\n")
	cfg.SIP.Terminals = nil
	for i := range terminals {
		u := fmt.Sprintf("port%d", i+1)
		cfg.SIP.Terminals = append(cfg.SIP.Terminals, config.Terminal{ID: fmt.Sprintf("t%d", i+1), SIPUser: u, Password: u + "-secret"})
		fmt.Fprintf(&csv, "%s;[authentication username=%s password=%s-secret]\n", u, u, u)
	}
	if len(cfg.Readers) > 0 {
		cfg.Readers = cfg.Readers[:1]
		cfg.Readers[0].Terminal = "t1"
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSetup, err)
	}
	if _, err := config.Parse(out); err != nil {
		return "", fmt.Errorf("%w: generated appliance config: %w", ErrSetup, err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSetup, err)
	}
	csvPath := filepath.Join(dir, "overload-terminals.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o600); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSetup, err)
	}
	return csvPath, nil
}

// waitSIP waits until the appliance answers an OPTIONS at addr.
func waitSIP(ctx context.Context, addr string, alive func() error) error {
	return stack.WaitFor(ctx, time.Minute, "the appliance to answer SIP", func() error {
		if err := alive(); err != nil {
			return nil
		}
		c, err := net.Dial("udp4", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		msg := "OPTIONS sip:kinline@" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bK-up\r\n" +
			"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:kinline@" + addr + ">\r\nCall-ID: up-probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			return fmt.Errorf("OPTIONS answered %q", strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
		}
		return nil
	})
}

// readCounts reads the last line of sipp's -trace_counts file in dir into
// column name -> count.
func readCounts(dir string) (map[string]int, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*_counts.csv"))
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no counts file in %s", ErrSipp, dir)
	}
	f, err := os.Open(files[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSipp, err)
	}
	defer f.Close()
	return parseCounts(f)
}

// parseCounts parses sipp's -trace_counts CSV (a header of column names,
// then one line of counts per dump, ';'-separated) into the last dump's
// column name -> count. Columns that are not counts are left out.
func parseCounts(rd io.Reader) (map[string]int, error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var head, last []string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if head == nil {
			head = strings.Split(line, ";")
			continue
		}
		last = strings.Split(line, ";")
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: counts: %w", ErrSipp, err)
	}
	if head == nil || last == nil {
		return nil, fmt.Errorf("%w: counts file has no data line", ErrSipp)
	}
	out := map[string]int{}
	for i, name := range head {
		if i >= len(last) || name == "" {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(last[i])); err == nil {
			out[strings.TrimSpace(name)] = n
		}
	}
	return out, nil
}

// unansweredBurst sends n INVITEs at rate per second from one UDP socket,
// each with its own Call-ID and branch, never answering a challenge or
// ACKing, and reads what comes back until 10 s after the last (longer
// than the first four retransmissions a kept transaction would send). It
// returns the INVITEs sent, the 407s received and how many of those were
// repeats for a Call-ID already challenged.
func unansweredBurst(ctx context.Context, addr string, n int, rate float64) (sent, got, repeats int, err error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w: %w", ErrSetup, err)
	}
	defer c.Close()
	if uc, ok := c.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(4 << 20)
	}
	local := c.LocalAddr().String()
	var mu sync.Mutex
	seen := map[string]int{}
	done := make(chan struct{})
	var readErr error
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			m, err := c.Read(buf)
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
					readErr = err
				}
				return
			}
			msg := string(buf[:m])
			if !strings.HasPrefix(msg, "SIP/2.0 407") {
				continue
			}
			id := headerValue(msg, "Call-ID")
			mu.Lock()
			seen[id]++
			got++
			mu.Unlock()
		}
	}()
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		id := fmt.Sprintf("unanswered-%d-%d", start.UnixNano(), i)
		msg := "INVITE sip:" + overloadNumber + "@" + addr + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + id + "\r\nMax-Forwards: 70\r\n" +
			"From: <sip:port1@" + addr + ">;tag=u" + strconv.Itoa(i) + "\r\nTo: <sip:" + overloadNumber + "@" + addr + ">\r\n" +
			"Call-ID: " + id + "\r\nCSeq: 1 INVITE\r\nContact: <sip:port1@" + local + ">\r\nContent-Length: 0\r\n\r\n"
		if _, err := c.Write([]byte(msg)); err == nil {
			sent++
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	<-done
	if readErr != nil {
		return sent, got, 0, fmt.Errorf("%w: reading answers: %w", ErrSetup, readErr)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range seen {
		repeats += k - 1
	}
	return sent, got, repeats, nil
}

// headerValue is the value of the first header name in msg ("" if none).
func headerValue(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rssSampler samples a process's VmRSS and RssAnon every 100 ms: the
// peaks since the last take, and over the whole run.
type rssSampler struct {
	mu                sync.Mutex
	peak, all         int64
	peakAnon, allAnon int64
	quit              chan struct{}
	wg                sync.WaitGroup
}

func newRSSSampler(pid int) *rssSampler {
	s := &rssSampler{quit: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				v, a := statusKB(b, "VmRSS:"), statusKB(b, "RssAnon:")
				s.mu.Lock()
				s.peak, s.all = max(s.peak, v), max(s.all, v)
				s.peakAnon, s.allAnon = max(s.peakAnon, a), max(s.allAnon, a)
				s.mu.Unlock()
			}
			select {
			case <-s.quit:
				return
			case <-t.C:
			}
		}
	})
	return s
}

// take returns the peaks (VmRSS, RssAnon) since the last take and starts
// new ones.
func (s *rssSampler) take() (rss, anon int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rss, anon = s.peak, s.peakAnon
	s.peak, s.peakAnon = 0, 0
	return rss, anon
}

// peakAll returns the peaks (VmRSS, RssAnon) over the whole run.
func (s *rssSampler) peakAll() (rss, anon int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all, s.allAnon
}

func (s *rssSampler) stop() {
	close(s.quit)
	s.wg.Wait()
}

// Markdown is the overload run's report for docs/PERFORMANCE.md.
func (r *OverloadResult) Markdown(machine string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s\n\n", machine)
	fmt.Fprintf(&b, "Appliance VmRSS idle: %.1f MB\n\n", float64(r.IdleRSS)/1024)
	b.WriteString("| offered attempts/s | sent by sipp (per s) | served: refused by the authorizer, per s | shed with 503 | unanswered | peak VmRSS | peak RssAnon |\n|---|---|---|---|---|---|---|\n")
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "| %.0f | %d (%.0f/s) | %d (**%.0f/s**) | %d | %d | %.1f MB | %.1f MB |\n",
			s.Offered, s.Sent, s.Achieved(), s.Refused, s.Served(), s.Shed, s.Unanswered, float64(s.PeakRSS)/1024, float64(s.PeakAnon)/1024)
	}
	if r.UnansweredSent > 0 {
		fmt.Fprintf(&b, "\n%d INVITEs at %.0f/s never answered: %d 407s came back (%d retransmissions); peak VmRSS %.1f MB\n",
			r.UnansweredSent, r.UnansweredRate, r.Challenges407, r.Retransmitted407, float64(r.UnansweredPeakRSS)/1024)
	}
	fmt.Fprintf(&b, "\nPeak over the run: VmRSS **%.1f MB**, RssAnon **%.1f MB**; VmHWM at the end: %.1f MB (target < 64 MB). The bbolt file (the outbox: refusal records and flood summaries; mapped, VmRSS counts its pages written as RssFile) ended at %.0f MB.\n",
		float64(r.PeakRSS)/1024, float64(r.PeakAnon)/1024, float64(r.HWM)/1024, float64(r.StoreBytes)/(1<<20))
	return b.String()
}
