package people

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/shared/pin"
	"github.com/kinline/kinline/shared/wire"
)

func TestWindowsValidation(t *testing.T) {
	good := []string{"08:00-12:00", "1-5 08:00-12:00; 0,6 10:00-16:00", "22:00-02:00", "00:00-24:00", ""}
	for _, g := range good {
		if _, err := ParseWindows(g); err != nil {
			t.Errorf("%q: %v", g, err)
		}
	}
	bad := []string{"8:00-12:00", "08:00-08:00", "24:00-01:00", "08:60-09:00", "7 08:00-09:00", "1,1 08:00-09:00", "5-1 08:00-09:00",
		"x 08:00-09:00", "08:00", "1 2 08:00-09:00", "+1:00-02:00", "08:00-24:01"}
	for _, b := range bad {
		if _, err := ParseWindows(b); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%q accepted: %v", b, err)
		}
	}
	ws, err := ParseWindows("1-5 08:00-12:00; 0,6 10:00-16:00")
	mustT(t, err)
	if len(ws) != 2 || !slices.Equal(ws[0].Days, []int{1, 2, 3, 4, 5}) || ws[1].Start != "10:00" {
		t.Fatalf("parsed %+v", ws)
	}
	if FormatWindows(ws) != "1,2,3,4,5 08:00-12:00; 0,6 10:00-16:00" {
		t.Fatalf("format %q", FormatWindows(ws))
	}
	if err := ValidateWindows([]wire.Window{{Days: []int{-1}, Start: "01:00", End: "02:00"}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatal("negative day accepted")
	}
}

func TestPeopleSearchAndPINReset(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	mustT(t, s.EnsureBlock(ctx, "admin", "A"))
	mustT(t, s.EnsureBlock(ctx, "admin", "B"))
	for _, p := range []NewPerson{{PrisonNumber: "A100", Name: "Ann Lee", Block: "A"}, {PrisonNumber: "A200", Name: "Bob_Stone", Block: "A"},
		{PrisonNumber: "B100", Name: "Cid Lee", Block: "B"}} {
		_, err := s.CreatePerson(ctx, "admin", p)
		mustT(t, err)
	}
	names := func(f PeopleFilter) []string {
		ps, err := s.People(ctx, f)
		mustT(t, err)
		var out []string
		for _, p := range ps {
			out = append(out, p.PrisonNumber)
		}
		return out
	}
	if got := names(PeopleFilter{Query: "lee"}); !slices.Equal(got, []string{"A100", "B100"}) {
		t.Fatalf("lee: %v", got)
	}
	if got := names(PeopleFilter{Query: "A1"}); !slices.Equal(got, []string{"A100"}) {
		t.Fatalf("A1: %v", got)
	}
	if got := names(PeopleFilter{Query: "_"}); !slices.Equal(got, []string{"A200"}) {
		t.Fatalf("_ must be literal: %v", got)
	}
	if got := names(PeopleFilter{Query: "lee", Blocks: []string{"B"}}); !slices.Equal(got, []string{"B100"}) {
		t.Fatalf("scoped: %v", got)
	}
	ps, _ := s.People(ctx, PeopleFilter{Query: "A100"})
	pinNew, block, err := s.ResetPIN(ctx, "admin", ps[0].ID)
	mustT(t, err)
	if len(pinNew) != 6 || block != "A" {
		t.Fatalf("pin %q block %q", pinNew, block)
	}
	var h string
	mustT(t, s.Reader().QueryRow(`SELECT pin_hash FROM people WHERE id = $1`, ps[0].ID).Scan(&h))
	if ok, err := pin.Verify(h, pinNew); !ok || err != nil {
		t.Fatalf("new PIN does not verify: %v", err)
	}
	if _, _, err := s.ResetPIN(ctx, "admin", "p_nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}

// FuzzParseWindows: the console's windows text never panics the parser,
// and what it accepts validates and survives a format/parse round trip.
func FuzzParseWindows(f *testing.F) {
	for _, s := range []string{"08:00-12:00", "1-5 08:00-12:00; 0,6 10:00-16:00", "22:00-24:00\n0 00:00-01:00", "x", "1-9 08:00-09:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ws, err := ParseWindows(s)
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		if err := ValidateWindows(ws); err != nil {
			t.Fatalf("accepted invalid windows %+v: %v", ws, err)
		}
		back, err := ParseWindows(FormatWindows(ws))
		if err != nil || FormatWindows(back) != FormatWindows(ws) {
			t.Fatalf("round trip %q -> %q: %v", FormatWindows(ws), FormatWindows(back), err)
		}
	})
}
