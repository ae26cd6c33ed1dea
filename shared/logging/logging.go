// Package logging builds the slog logger both binaries (kinline-appliance,
// kinline-central) log with: text (logfmt, the default) or JSON (one
// object a line, for a log shipper), at a level, on a handler that never
// writes a key twice in one line.
//
// A key written twice happens when a logger made With("appliance", id) is
// handed to code that adds "appliance" again; JSON decoders then keep one
// of the two silently. The handler here drops a repeated key whose value
// is the same and writes one whose value differs as key_2 (key_3, ...), so
// nothing is lost and nothing is ambiguous. A line logged with an empty
// message (some libraries do) gets its error as the message, else
// "(no message)".
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
)

// Formats a logger can write.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// ValidFormat reports whether f is a format New accepts ("" is text).
func ValidFormat(f string) error {
	switch f {
	case "", FormatText, FormatJSON:
		return nil
	}
	return fmt.Errorf("logging: format %q: want text or json", f)
}

// New returns a logger writing to w in format ("" or "text", "json") at
// level ("debug", "info", "warn", "error"; "" is info).
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	if err := ValidFormat(format); err != nil {
		return nil, err
	}
	var lv slog.Level
	if level != "" {
		if err := lv.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("logging: level: %w", err)
		}
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == FormatJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(Unique(h)), nil
}

// Unique wraps h so that no line carries a key twice (see the package
// comment). Attributes inside groups are passed on as they are.
func Unique(h slog.Handler) slog.Handler { return &unique{next: h} }

type unique struct {
	next slog.Handler
	// attrs are the logger's own attributes (With), already deduplicated;
	// they are kept here, not in next, so that a record's attributes can
	// be checked against them.
	attrs []slog.Attr
	// grouped: a WithGroup was applied; from then on keys are namespaced
	// and passed through.
	grouped bool
}

func (u *unique) Enabled(ctx context.Context, l slog.Level) bool { return u.next.Enabled(ctx, l) }

func (u *unique) WithAttrs(as []slog.Attr) slog.Handler {
	if u.grouped {
		return &unique{next: u.next.WithAttrs(as), grouped: true}
	}
	return &unique{next: u.next, attrs: merge(u.attrs, as)}
}

func (u *unique) WithGroup(name string) slog.Handler {
	if name == "" {
		return u
	}
	return &unique{next: u.next.WithAttrs(u.attrs).WithGroup(name), grouped: true}
}

func (u *unique) Handle(ctx context.Context, r slog.Record) error {
	if u.grouped {
		return u.next.Handle(ctx, r)
	}
	rec := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool { rec = append(rec, a); return true })
	all := merge(u.attrs, rec)
	msg := r.Message
	if msg == "" {
		msg = noMessage(all)
	}
	out := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	out.AddAttrs(all...)
	return u.next.Handle(ctx, out)
}

// merge appends add to have, dropping an attribute whose key and value
// are already there and renaming one whose key is taken by another value.
func merge(have, add []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(have), len(have)+len(add))
	copy(out, have)
	for _, a := range add {
		if a.Key == "" && a.Value.Kind() != slog.KindGroup {
			continue // slog drops empty attributes too
		}
		if a.Value.Kind() == slog.KindGroup && a.Key == "" {
			out = merge(out, a.Value.Group()) // an inline group's attributes are top-level keys
			continue
		}
		a.Value = a.Value.Resolve()
		key, dup := a.Key, false
		for n := 2; ; n++ {
			if reserved[key] {
				key = a.Key + "_" + strconv.Itoa(n)
				continue
			}
			i := index(out, key)
			if i < 0 {
				break
			}
			if out[i].Value.Equal(a.Value) {
				dup = true
				break
			}
			key = a.Key + "_" + strconv.Itoa(n)
		}
		if !dup {
			out = append(out, slog.Attr{Key: key, Value: a.Value})
		}
	}
	return out
}

// noMessage is the message of a line logged with none (libraries do:
// the MQTT broker logs its listeners' errors so): the error it carries,
// else a placeholder, so that no line has an empty msg.
func noMessage(as []slog.Attr) string {
	for _, k := range []string{"err", "error"} {
		if i := index(as, k); i >= 0 {
			if m := as[i].Value.String(); m != "" {
				return m
			}
		}
	}
	return "(no message)"
}

// reserved are the keys the handlers write themselves (source too, but
// New does not turn it on).
var reserved = map[string]bool{slog.TimeKey: true, slog.LevelKey: true, slog.MessageKey: true}

func index(as []slog.Attr, key string) int {
	for i, a := range as {
		if a.Key == key {
			return i
		}
	}
	return -1
}
