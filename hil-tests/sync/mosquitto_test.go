package sync_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/shared/wire"
)

// startMosquitto runs a real Mosquitto on a free port with password and
// ACL files that mirror the embedded broker's rules, or skips.
func startMosquitto(t *testing.T) (url, user, pass string) {
	t.Helper()
	bin := testkit.NeedPeer(t, "mosquitto", "mosquitto")
	pwBin := testkit.NeedPeer(t, "mosquitto_passwd", "mosquitto")
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // mosquitto may drop to its own user
	user, pass = "central", "central-secret"
	pwFile := filepath.Join(dir, "passwd")
	for i, up := range [][2]string{{user, pass}, {appID, appPW}} {
		args := []string{"-b", pwFile, up[0], up[1]}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(pwBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	aclFile := filepath.Join(dir, "acl")
	acl := fmt.Sprintf("user %s\ntopic readwrite %s/#\n\npattern write %s/%%u/up/#\npattern read %s/%%u/down/#\n",
		user, wire.TopicRoot, wire.TopicRoot, wire.TopicRoot)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\nacl_file %s\npersistence false\nmessage_size_limit 0\nmax_queued_messages 100000\n",
		port, pwFile, aclFile)
	if os.Geteuid() == 0 {
		conf += "user root\n"
	}
	confFile := filepath.Join(dir, "mosquitto.conf")
	for name, content := range map[string]string{aclFile: acl, confFile: conf} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(pwFile, 0o644)
	var logBuf bytes.Buffer
	cmd := exec.Command(bin, "-c", confFile)
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", logBuf.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testkit.EventuallyNil(t, patience, "mosquitto to listen on "+addr, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			t.Fatalf("mosquitto exited: %s", logBuf.String())
		default:
		}
		return err
	})
	return "tcp://" + addr, user, pass
}

func TestDeliveryThroughMosquitto(t *testing.T) {
	url, user, pass := startMosquitto(t)
	h := newHarnessURL(t, url, user, pass)
	h.fake.SetPolicy(&wire.Policy{V: 1, ApplianceID: appID, Block: "A", Version: 1})
	stopIngest := h.startIngest()
	st := h.openStore()
	cfg := h.config()
	cfg.AckTimeout = 5 * time.Second
	stopClient := h.startClient(st, cfg)
	h.waitPolicy(1)
	appendN(t, st, 250)
	h.waitDelivered(st, 251) // with the status event of policy 1
	// Central restarts; the appliance keeps appending.
	stopIngest()
	appendN(t, st, 249)
	h.tick(time.Second)
	h.startIngest()
	h.waitDelivered(st, 500)
	h.checkCentral(500)

	// The generated ACL keeps the appliance off another appliance's
	// topics (Mosquitto 2.0 enforces read ACLs at delivery).
	stopClient()
	got := make(chan string, 10)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(appID).
		SetUsername(appID).SetPassword(appPW).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("probe connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	tok := c.Subscribe(wire.TopicRoot+"/+/down/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() })
	if !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatal("probe subscribe")
	}
	central := h.centralClient()
	for _, topic := range []string{wire.TopicAck("blk-b"), wire.TopicAck(appID)} {
		if tok := central.Publish(topic, 1, false, "x"); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatal("central publish")
		}
	}
	for done := false; !done; {
		select {
		case topic := <-got:
			if id, _ := wire.ApplianceFromTopic(topic); id != appID {
				t.Fatalf("%s received a message on %s", appID, topic)
			}
			done = topic == wire.TopicAck(appID)
		case <-time.After(patience):
			t.Fatal("probe got nothing")
		}
	}
}
