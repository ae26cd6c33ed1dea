package logging

import (
	"bytes"
	"strings"
	"testing"
)

func TestNoKeyTwice(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log, err := New(&buf, format, "debug")
		if err != nil {
			t.Fatal(err)
		}
		l := log.With("appliance", "a1", "part", "sync")
		l.Info("hello", "appliance", "a1", "appliance", "b2", "msg", "x", "n", 1)
		l.With("part", "sync").Debug("again", "part", "other")
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("%s: %q", format, buf.String())
		}
		for _, l := range lines {
			if err := CheckLine(format, []byte(l)); err != nil {
				t.Errorf("%s: %v", format, err)
			}
		}
		for _, want := range []string{"appliance_2", "msg_2", "part_2"} {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("%s: %s missing in %q", format, want, buf.String())
			}
		}
	}
}

func TestCheckLineCatchesDuplicates(t *testing.T) {
	bad := map[string]string{
		"json": `{"time":"t","level":"INFO","msg":"m","a":1,"a":2}`,
		"text": `time=t level=INFO msg=m a=1 a=2`,
	}
	for f, l := range bad {
		if err := CheckLine(f, []byte(l)); err == nil {
			t.Errorf("%s: duplicate not seen in %s", f, l)
		}
	}
	for f, l := range map[string]string{"json": `{"time":"t","level":"INFO","msg":"","a":1}`, "text": `time=t level=INFO msg="" a=1`} {
		if err := CheckLine(f, []byte(l)); err == nil {
			t.Errorf("%s: empty msg not seen in %s", f, l)
		}
	}
	if err := CheckLine("json", []byte("panic: boom")); err == nil {
		t.Error("a line that is not JSON passed")
	}
	if err := CheckLine("text", []byte(`time=t level=INFO msg="a b=c" b=1 q="x \" y=1"`)); err != nil {
		t.Errorf("quoted values: %v", err)
	}
}

func TestBadFormatAndLevel(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "xml", ""); err == nil {
		t.Error("xml accepted")
	}
	if _, err := New(&bytes.Buffer{}, "json", "loud"); err == nil {
		t.Error("level loud accepted")
	}
}

func TestNoEmptyMessage(t *testing.T) {
	var buf bytes.Buffer
	log, _ := New(&buf, "json", "")
	log.Warn("", "error", "read tcp: use of closed network connection")
	log.Info("")
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if err := CheckLine("json", []byte(l)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(buf.String(), `"msg":"read tcp: use of closed network connection"`) || !strings.Contains(buf.String(), `"msg":"(no message)"`) {
		t.Fatal(buf.String())
	}
}
