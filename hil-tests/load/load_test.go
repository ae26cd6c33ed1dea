package load

import (
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinline/kinline/internal/testkit"
)

func TestParseStat(t *testing.T) {
	// The command may hold spaces and parentheses; utime 250, stime 50 ticks.
	line := "4242 (kin (line) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 100 1000000 2500 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseStat([]byte(line))
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStat = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "4242 no paren S 1", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 50 0"} {
		if _, err := parseStat([]byte(bad)); !errors.Is(err, ErrProc) {
			t.Errorf("parseStat(%q) err = %v, want ErrProc", bad, err)
		}
	}
}

func TestStatusKB(t *testing.T) {
	b := []byte("Name:\tkinline-applia\nVmHWM:\t   40960 kB\nVmRSS:\t   30720 kB\n")
	if rss, hwm := statusKB(b, "VmRSS:"), statusKB(b, "VmHWM:"); rss != 30720 || hwm != 40960 {
		t.Fatalf("rss %d hwm %d", rss, hwm)
	}
	if statusKB(b, "VmSwap:") != 0 {
		t.Fatal("missing key not 0")
	}
}

func TestParseRTT(t *testing.T) {
	in := "Date_ms;response_time_ms;rtd_no\n24.001;0;ring\n44.001;12;ring\n64.001;2500;ring\n"
	got, err := parseRTT(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 12 * time.Millisecond, 2500 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, err := parseRTT(strings.NewReader("1;x;ring\n")); !errors.Is(err, ErrSipp) {
		t.Fatalf("bad line: err %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 200; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(ds, 0.5); p != 100*time.Millisecond {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(ds, 0.99); p != 198*time.Millisecond {
		t.Errorf("p99 %v", p)
	}
	if p := percentile(nil, 0.99); p != 0 {
		t.Errorf("empty %v", p)
	}
}

func TestOptionsDefaults(t *testing.T) {
	var o Options
	if err := o.defaults(); !errors.Is(err, ErrOptions) {
		t.Fatalf("empty options: %v", err)
	}
	o = Options{BinDir: "b", Dir: "d"}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	if o.Calls != 100 || o.Rate != 50 || o.Window != 15*time.Second || o.Verify != 100 || o.Scenarios == "" {
		t.Fatalf("defaults %+v", o)
	}
	if o.Hotline != 0 || o.HotlineRate != 1 || o.HotlineTalk != 3*time.Second || o.KeyTone != 50*time.Millisecond {
		t.Fatalf("hotline defaults %+v", o)
	}
	for _, bad := range []Options{
		{Calls: 10, Hotline: 11},                          // one hotline call per terminal
		{Hotline: -1},                                     // negative
		{KeyTone: 40 * time.Millisecond},                  // shorter than sipp plays
		{KeyTone: 3 * time.Second},                        // longer than sipp plays
		{KeyTone: 50*time.Millisecond + time.Microsecond}, // not whole ms
	} {
		bad.BinDir, bad.Dir = "b", "d"
		if err := bad.defaults(); !errors.Is(err, ErrOptions) {
			t.Errorf("options %+v: err %v, want ErrOptions", bad, err)
		}
	}
}

func TestStartSippPortTaken(t *testing.T) {
	testkit.NeedPeer(t, "sipp", "sip-tester")
	o := Options{BinDir: "b", Dir: "d"}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(o.Scenarios, "trunk_load.xml")
	// Another process holds the port the harness found free.
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	taken := c.LocalAddr().(*net.UDPAddr).Port
	if _, err := startSipp(t.Context(), t.TempDir(), scenario, taken); !errors.Is(err, errPortTaken) || !errors.Is(err, ErrSipp) {
		t.Fatalf("sipp on a taken port: err %v, want errPortTaken and ErrSipp", err)
	}
	// startSippFree takes fresh ports until sipp runs.
	p, port, err := startSippFree(t.Context(), t.TempDir(), scenario, func() ([]string, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	if port == taken {
		t.Fatalf("started on the taken port %d", port)
	}
	if b, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		b.Close()
		t.Fatalf("port %d not bound by sipp", port)
	}
}
