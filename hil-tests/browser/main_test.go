package browsertests

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/totp"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/internal/phone"
	"github.com/kinline/kinline/internal/readersim"
	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/tools/stack"
)

// binDir holds the binaries built for this run.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("browser tests: skipped in -short mode")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "kinline-browser-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../appliance/cmd/kinline-appliance", "../../central/cmd/kinline-central")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "browser tests: building the binaries:", err)
		os.Exit(1)
	}
	code := m.Run()
	if inst != nil {
		inst.close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// chromiumPath finds the browser: $KINLINE_CHROMIUM, else chromium (Debian)
// or chromium-browser on $PATH.
func chromiumPath() string {
	names := []string{"chromium", "chromium-browser"}
	if p := os.Getenv("KINLINE_CHROMIUM"); p != "" {
		names = []string{p}
	}
	for _, name := range names {
		if p := testkit.LookPeer(name); p != "" {
			return p
		}
	}
	return ""
}

// needChromium skips the test when Chromium is missing, or fails it under
// KINLINE_REQUIRE_PEERS=1 (testkit.MissingPeer).
func needChromium(t *testing.T) string {
	t.Helper()
	if p := chromiumPath(); p != "" {
		return p
	}
	testkit.MissingPeer(t, "chromium", "chromium")
	return ""
}

// Fixed data of the installation every scenario shares.
const (
	cardA       = "04A1B2C3"
	numberA     = "+442079460001"
	prisonA     = "A1234BC"
	nameA       = "Alex Morgan"
	prisonB     = "B5678DE"
	nameB       = "Blake Rivers"
	prisonMoney = "A4000FN"
	nameMoney   = "Morgan Penny"
	blockB      = "B"
	// password of every seeded console user (12 characters at least).
	password = "correct horse battery"
)

// user is a console user seeded through the API.
type user struct {
	ID, Username, Role string
	Secret             string // TOTP secret ("" when not enrolled)

	mu       sync.Mutex
	lastStep int64
}

// Code is a one-time code that has not been used yet: the current step's,
// or the next step's (within central's ±1 step skew) when the current one
// was used for an earlier sign-in of this user.
func (u *user) Code(t *testing.T) string {
	t.Helper()
	key, err := totp.DecodeSecret(u.Secret)
	if err != nil {
		t.Fatalf("user %s: %v", u.Username, err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	step := max(totp.Step(time.Now()), u.lastStep+1)
	for step > totp.Step(time.Now())+1 {
		time.Sleep(time.Second) // real time on purpose: the next TOTP step comes with the clock
	}
	u.lastStep = step
	return totp.HOTP(key, uint64(step), totp.Digits)
}

// installation is the running central (and appliance), its seeded data
// and the shared browser.
type installation struct {
	*stack.Stack
	dir string
	ctx context.Context
	// PersonA (block A, with card and approved number), PersonB (block B),
	// PersonMoney (block A, for recharges) are person ids.
	PersonA, PersonB, PersonMoney string
	// CallA is an answered, recorded call of PersonA in block A; CallB a
	// refused call placed after the appliance moved to block B.
	CallA, CallB store.Call
	Users        map[string]*user

	browser  context.Context
	cancel   []context.CancelFunc
	family   *phone.Family
	reader   *readersim.Sim
	chromium string
}

var (
	inst     *installation
	instErr  error
	instOnce sync.Once
)

// fixture returns the shared installation, starting it on first use.
func fixture(t *testing.T) *installation {
	t.Helper()
	chromium := needChromium(t)
	instOnce.Do(func() {
		start := time.Now()
		inst, instErr = startInstallation(chromium)
		if instErr == nil {
			fmt.Printf("browser tests: installation ready in %v\n", time.Since(start).Round(time.Millisecond))
		}
	})
	if instErr != nil {
		t.Fatalf("starting the installation: %v", instErr)
	}
	return inst
}

func startInstallation(chromium string) (in *installation, err error) {
	dir, err := os.MkdirTemp("", "kinline-browser-")
	if err != nil {
		return nil, err
	}
	in = &installation{dir: dir, Users: map[string]*user{}, chromium: chromium}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n---- kinline-central.log (tail) ----\n%s\n---- kinline-appliance.log (tail) ----\n%s",
				err, tail(filepath.Join(dir, "kinline-central.log"), 6000), tail(filepath.Join(dir, "kinline-appliance.log"), 6000))
			in.close()
			in = nil
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	in.cancel = append(in.cancel, cancel)
	in.ctx = ctx

	if in.family, err = phone.NewFamily(phone.FamilyConfig{RingFor: 200 * time.Millisecond}); err != nil {
		return in, err
	}
	if in.reader, err = readersim.New(readersim.Options{Driver: readersim.DriverPN532, Link: filepath.Join(dir, "reader-t1")}); err != nil {
		return in, err
	}
	st, err := stack.Prepare(stack.Options{Dir: dir, BinDir: binDir, TrunkAddr: in.family.Addr().String(),
		ReaderDevice: in.reader.Path(), Quiet: true, LogLevel: "info"})
	if err != nil {
		return in, err
	}
	in.Stack = st
	// Start the browser while central starts: both take a moment.
	browserErr := make(chan error, 1)
	go func() { browserErr <- in.startBrowser() }()
	if err := st.StartCentral(ctx); err != nil {
		return in, err
	}
	if err := st.StartAppliance(ctx); err != nil {
		return in, err
	}
	if err := in.seed(ctx); err != nil {
		return in, err
	}
	if err := in.placeCalls(ctx); err != nil {
		return in, err
	}
	if err := <-browserErr; err != nil {
		return in, fmt.Errorf("starting chromium: %w", err)
	}
	return in, nil
}

// startBrowser launches one headless Chromium for all scenarios.
func (in *installation) startBrowser() error {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(in.chromium),
		chromedp.UserDataDir(filepath.Join(in.dir, "chromium-profile")),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("autoplay-policy", "user-gesture-required"),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	in.cancel = append(in.cancel, cancelA, cancelB)
	in.browser = bctx
	// The first Run starts the browser; bound it.
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(bctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		return errors.New("chromium did not start within 60 s")
	}
}

func (in *installation) close() {
	if in.Stack != nil {
		in.Stack.Close()
	}
	// The cancel funcs are in start order (setup context, allocator,
	// browser): undone last first, then the peers.
	for i := len(in.cancel) - 1; i >= 0; i-- {
		in.cancel[i]()
	}
	if in.reader != nil {
		in.reader.Close()
	}
	if in.family != nil {
		in.family.Close()
	}
	os.RemoveAll(in.dir)
}

// seed creates block B, the people and the console users.
func (in *installation) seed(ctx context.Context) error {
	if err := in.Do(ctx, "POST", "/api/v1/blocks", map[string]string{"name": blockB}, nil); err != nil {
		return fmt.Errorf("create block B: %w", err)
	}
	var err error
	if in.PersonA, err = in.Seed(ctx, stack.Person{PrisonNumber: prisonA, Name: nameA, Card: cardA, Numbers: []string{numberA}}); err != nil {
		return err
	}
	var p people.Person
	if err := in.Do(ctx, "POST", "/api/v1/inmates", map[string]any{"prison_number": prisonB, "name": nameB, "block": blockB,
		"status": "active", "language": "en"}, &p); err != nil {
		return fmt.Errorf("create person in block B: %w", err)
	}
	in.PersonB = p.ID
	if err := in.Do(ctx, "POST", "/api/v1/inmates", map[string]any{"prison_number": prisonMoney, "name": nameMoney, "block": stack.Block,
		"status": "active", "language": "en"}, &p); err != nil {
		return fmt.Errorf("create person for recharges: %w", err)
	}
	in.PersonMoney = p.ID
	for _, u := range []struct {
		name, role string
		blocks     []string
		totp       bool
	}{
		{"ada", store.RoleSystemAdmin, nil, true},
		{"ivy", store.RoleInvestigator, nil, true},
		{"lena", store.RoleInvestigator, nil, true},
		{"ian", store.RoleInvestigator, nil, false},
		{"nina", store.RoleInvestigator, nil, false},
		{"fred", store.RoleFinance, nil, false},
		{"otto", store.RoleBlockOfficer, []string{stack.Block}, true},
	} {
		if err := in.addUser(ctx, u.name, u.role, u.blocks, u.totp); err != nil {
			return err
		}
	}
	return in.WaitPolicyApplied(ctx, 30*time.Second)
}

func (in *installation) addUser(ctx context.Context, name, role string, blocks []string, withTOTP bool) error {
	var created users.User
	if err := in.Do(ctx, "POST", "/api/v1/users", map[string]any{"username": name, "display_name": strings.ToUpper(name[:1]) + name[1:],
		"role": role, "blocks": blocks, "password": password}, &created); err != nil {
		return fmt.Errorf("create user %s: %w", name, err)
	}
	u := &user{ID: created.ID, Username: name, Role: role}
	if withTOTP {
		var enrolled struct {
			Secret string `json:"secret"`
		}
		if err := in.Do(ctx, "POST", "/api/v1/users/"+created.ID+"/totp", nil, &enrolled); err != nil {
			return fmt.Errorf("enrol %s in TOTP: %w", name, err)
		}
		if enrolled.Secret == "" {
			return fmt.Errorf("enrol %s in TOTP: no secret in the answer", name)
		}
		u.Secret = enrolled.Secret
	}
	in.Users[name] = u
	return nil
}

// placeCalls runs the calls the scenarios review: an answered call of
// PersonA in block A with its recording uploaded, then, with the appliance
// moved to block B (through the API, as an administrator would do it), a
// call attempt without a card tap, refused and recorded at central as
// block B's.
func (in *installation) placeCalls(ctx context.Context) error {
	port, err := phone.NewPort(phone.PortConfig{Appliance: in.SIPAddr, User: stack.PortUser, Password: stack.PortPass})
	if err != nil {
		return err
	}
	defer port.Close()
	if err := port.Register(ctx, time.Hour); err != nil {
		return fmt.Errorf("REGISTER: %w", err)
	}
	if err := in.tapCard(ctx); err != nil {
		return err
	}
	res, err := port.Call(ctx, numberA, 3*time.Second)
	if err != nil {
		return fmt.Errorf("call %s: %w", numberA, err)
	}
	if !res.Answered {
		return fmt.Errorf("the approved call was not answered: %+v", res)
	}
	calls, err := in.WaitCalls(ctx, 1, time.Minute)
	if err != nil {
		return err
	}
	in.CallA = calls[0]
	if _, err := in.WaitRecording(ctx, in.CallA.ID, time.Minute); err != nil {
		return err
	}

	// Move the appliance to block B, as an administrator does (the
	// appliance is managed in the console, not in central.yaml).
	if err := in.moveAppliance(ctx, blockB); err != nil {
		return err
	}
	if res, err := port.Call(ctx, numberA, time.Second); err != nil || res.Answered || res.Code != 403 {
		return fmt.Errorf("the call without a tap was not refused: %+v, %v", res, err)
	}
	if calls, err = in.WaitCalls(ctx, 2, time.Minute); err != nil {
		return err
	}
	in.CallB = calls[0]
	if in.CallA.Block != stack.Block || in.CallB.Block != blockB || in.CallB.ID == in.CallA.ID {
		return fmt.Errorf("calls in the wrong blocks: A %s in %q, B %s in %q", in.CallA.ID, in.CallA.Block, in.CallB.ID, in.CallB.Block)
	}
	return nil
}

// tapCard taps PersonA's card on the reader and waits until the appliance
// holds the tap (it logs it), so a call placed next is PersonA's.
func (in *installation) tapCard(ctx context.Context) error {
	uid, err := readersim.ParseUID(cardA)
	if err != nil {
		return err
	}
	before := in.reader.Stats().Targets
	lines, err := in.ApplianceLogLines(`msg="card tap"`, "uid="+cardA+" ")
	if err != nil {
		return err
	}
	taps := len(lines)
	if err := in.reader.Tap(uid, readersim.DefaultHold); err != nil {
		return err
	}
	if err := stack.WaitFor(ctx, 15*time.Second, "the appliance to read the card", func() error {
		if in.reader.Stats().Targets == before {
			return errors.New("not read yet")
		}
		return nil
	}); err != nil {
		return err
	}
	// The daemon logs the tap once the authorizer holds it.
	if _, err := in.WaitApplianceLog(ctx, 15*time.Second, taps+1, `msg="card tap"`, "uid="+cardA+" "); err != nil {
		return err
	}
	return nil
}

// moveAppliance moves the stack's appliance to block through the API and
// waits until it has applied that block's policy.
func (in *installation) moveAppliance(ctx context.Context, block string) error {
	if err := in.Do(ctx, "PATCH", "/api/v1/appliances/"+stack.ApplianceID, map[string]string{"block": block}, nil); err != nil {
		return fmt.Errorf("move the appliance to block %s: %w", block, err)
	}
	return in.WaitPolicyApplied(ctx, 30*time.Second)
}

// tail returns the end of a file (for logs).
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
