package store

import (
	"errors"
	"fmt"
	"testing"
)

func TestMessage(t *testing.T) {
	for in, want := range map[string]string{
		fmt.Errorf("%w: name is required", ErrInvalid).Error(): "name is required",
		"api: bad request: invalid JSON body: unexpected EOF":  "invalid JSON body: unexpected EOF",
		"api: forbidden: store: not allowed to decide":         "forbidden: not allowed to decide",
		"store: not found":                                "not found",
		"store: invalid input":                            "invalid input",
		"bad query: limit must be a non-negative integer": "limit must be a non-negative integer",
		"no such endpoint: GET /x\nSet-Cookie: a\r\n":     "no such endpoint: GET /x Set-Cookie: a",
		"name \u202eevil\u2066":                           "name  evil",
		"kept: a store: in the middle stays when it is not after a prefix (e.g. quoted text)": "kept: a store: in the middle stays when it is not after a prefix (e.g. quoted text)",
	} {
		if got := Message(in); got != want {
			t.Errorf("Message(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidTextRefusesHiddenCharacters(t *testing.T) {
	for _, s := range []string{"a\x00", "a\x1b[31m", "a\x7f", "a\u0085b", "a\u202ab", "a\u202eb", "a\u2066b", "a\u2069b", "a\u200eb", "a\u200bb", "a\ufeffb", "a\u2028b", "a\u061cb"} {
		if err := ValidText("name", s, 100, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidText(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"Zoë", "می\u200cخواهم", "👩\u200d👩\u200d👧", "O'Brien-Smith", "李小龍"} {
		if err := ValidText("name", s, 100, true); err != nil {
			t.Errorf("ValidText(%q) = %v", s, err)
		}
	}
}
