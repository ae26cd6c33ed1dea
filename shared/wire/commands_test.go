package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func sampleCommand() Command {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return Command{V: ProtocolVersion, ID: "c1", ApplianceID: "block-a-1", Kind: CmdEndCall, CallID: "call-1", Issued: t0, Expires: t0.Add(time.Minute)}
}

func TestCommandCheck(t *testing.T) {
	good := sampleCommand()
	if err := good.Check(); err != nil {
		t.Fatalf("good command refused: %v", err)
	}
	cases := map[string]func(c *Command){
		"no id":              func(c *Command) { c.ID = "" },
		"id with slash":      func(c *Command) { c.ID = "a/b" },
		"unknown kind":       func(c *Command) { c.Kind = "reboot" },
		"end_call no call":   func(c *Command) { c.CallID = "" },
		"lockdown with call": func(c *Command) { c.Kind = CmdLockdown },
		"expires before":     func(c *Command) { c.Expires = c.Issued },
		"too long":           func(c *Command) { c.Expires = c.Issued.Add(MaxCommandTTL + time.Second) },
		"wildcard appliance": func(c *Command) { c.ApplianceID = "+" },
		"by too long":        func(c *Command) { c.By = strings.Repeat("a", MaxCommandByLen+1) },
		"by with newline":    func(c *Command) { c.By = "user:alice\nended by nobody" },
		"by with escape":     func(c *Command) { c.By = "user:alice \x1b[2J" },
		"by not utf-8":       func(c *Command) { c.By = "user:\xff" },
		"by with bidi":       func(c *Command) { c.By = "user:alice \u202e" },
	}
	for _, by := range []string{"", "user:alice (Alice Smith)", "token:ops", strings.Repeat("é", MaxCommandByLen/2)} {
		c := sampleCommand()
		c.By = by
		if err := c.Check(); err != nil {
			t.Errorf("by %q refused: %v", by, err)
		}
	}
	for name, mutate := range cases {
		c := sampleCommand()
		mutate(&c)
		if err := c.Check(); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s: Check = %v, want ErrBadCommand", name, err)
		}
	}
}

func TestDecodeCommand(t *testing.T) {
	c := sampleCommand()
	data, _ := json.Marshal(&c)
	got, err := DecodeCommand(data, "block-a-1")
	if err != nil || got.ID != "c1" || !got.Expires.Equal(c.Expires) {
		t.Fatalf("DecodeCommand = %+v, %v", got, err)
	}
	got, err = DecodeCommand(data, "block-b")
	if !errors.Is(err, ErrMalformed) || got == nil || got.ID != "c1" {
		t.Fatalf("foreign command: %+v, %v; want the command and ErrMalformed", got, err)
	}
	c.V = 9
	data, _ = json.Marshal(&c)
	if _, err := DecodeCommand(data, ""); !errors.Is(err, ErrVersion) {
		t.Fatalf("version 9: %v", err)
	}
	if _, err := DecodeCommand([]byte(`{`), ""); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestDecodeCommandAnswer(t *testing.T) {
	a := CommandAnswer{V: ProtocolVersion, ApplianceID: "x", ID: "c1", OK: true, At: time.Unix(5, 0)}
	data, _ := json.Marshal(&a)
	if got, err := DecodeCommandAnswer(data, "x"); err != nil || !got.OK || got.ID != "c1" {
		t.Fatalf("DecodeCommandAnswer = %+v, %v", got, err)
	}
	if _, err := DecodeCommandAnswer(data, "y"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("foreign answer: %v", err)
	}
	a.ID = "bad id"
	data, _ = json.Marshal(&a)
	if _, err := DecodeCommandAnswer(data, "x"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad id: %v", err)
	}
}

func TestCommandTopics(t *testing.T) {
	if id, ok := ApplianceFromTopic(TopicCommandAnswers("a1")); !ok || id != "a1" {
		t.Fatalf("answers topic: %q %v", id, ok)
	}
	if TopicCommands("a1") != TopicRoot+"/a1/down/commands" {
		t.Fatal(TopicCommands("a1"))
	}
}

// FuzzDecodeCommand: decoding untrusted bytes never panics, and a command
// that decodes and checks re-encodes to one that decodes and checks alike.
func FuzzDecodeCommand(f *testing.F) {
	c := sampleCommand()
	data, _ := json.Marshal(&c)
	f.Add(data)
	f.Add([]byte(`{"v":1,"id":"x","appliance_id":"a","kind":"lockdown","issued":"2025-01-01T00:00:00Z","expires":"2025-01-01T00:01:00Z","sig":"AAAA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data, "")
		if err != nil {
			return
		}
		if c.Check() != nil {
			return
		}
		again, _ := json.Marshal(c)
		c2, err := DecodeCommand(again, c.ApplianceID)
		if err != nil || c2.Check() != nil || c2.ID != c.ID || c2.Kind != c.Kind || !c2.Expires.Equal(c.Expires) {
			t.Fatalf("re-encoded command differs: %+v, %v", c2, err)
		}
		_, _ = DecodeCommandAnswer(data, "")
	})
}
