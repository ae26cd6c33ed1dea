package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// CheckLine checks one line a logger of format wrote: it must parse (a
// JSON object, or logfmt key=value pairs), carry no key twice at its top
// level and have a non-empty msg. The binaries' tests run it on every line
// they print.
func CheckLine(format string, line []byte) error {
	var keys []string
	var msg string
	var err error
	if format == FormatJSON {
		keys, msg, err = jsonKeys(line)
	} else {
		keys, msg, err = textKeys(line)
	}
	if err != nil {
		return fmt.Errorf("%w: %s", err, line)
	}
	seen := map[string]bool{}
	hasMsg := false
	for _, k := range keys {
		if seen[k] {
			return fmt.Errorf("key %q twice: %s", k, line)
		}
		seen[k] = true
		hasMsg = hasMsg || k == "msg"
	}
	if !hasMsg || msg == "" {
		return fmt.Errorf("empty msg: %s", line)
	}
	return nil
}

// jsonKeys walks the object's tokens, so that a repeated key is seen (a
// decode into a map would keep one of them).
func jsonKeys(line []byte) ([]string, string, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, "", errors.New("not a JSON object")
	}
	var keys []string
	var msg string
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, "", fmt.Errorf("not JSON: %w", err)
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, "", fmt.Errorf("not JSON: %w", err)
		}
		if k == "msg" {
			if err := json.Unmarshal(v, &msg); err != nil {
				return nil, "", fmt.Errorf("msg is not a string: %w", err)
			}
		}
	}
	if _, err := d.Token(); err != nil {
		return nil, "", fmt.Errorf("not JSON: %w", err)
	}
	if d.More() {
		return nil, "", errors.New("more than one JSON value on the line")
	}
	return keys, msg, nil
}

// textKeys reads slog's text format: key=value pairs separated by spaces,
// a value quoted (Go syntax) when it needs to be.
func textKeys(line []byte) ([]string, string, error) {
	s := string(line)
	var keys []string
	var msg string
	for len(s) > 0 {
		if s[0] == ' ' {
			s = s[1:]
			continue
		}
		eq := bytes.IndexByte([]byte(s), '=')
		if eq <= 0 {
			return nil, "", errors.New("not key=value text")
		}
		k := s[:eq]
		if bytes.ContainsAny([]byte(k), " \"") {
			return nil, "", fmt.Errorf("not key=value text at %q", k)
		}
		s = s[eq+1:]
		var v string
		if len(s) > 0 && s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, "", fmt.Errorf("bad quoted value of %s: %w", k, err)
			}
			v, _ = strconv.Unquote(q)
			s = s[len(q):]
		} else {
			end := bytes.IndexByte([]byte(s), ' ')
			if end < 0 {
				end = len(s)
			}
			v, s = s[:end], s[end:]
		}
		keys = append(keys, k)
		if k == "msg" {
			msg = v
		}
	}
	return keys, msg, nil
}
