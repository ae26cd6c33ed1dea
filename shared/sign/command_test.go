package sign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

func sampleCommand() *wire.Command {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	return &wire.Command{V: wire.ProtocolVersion, ID: "cmd-1", ApplianceID: "block-a-1", Kind: wire.CmdEndCall,
		CallID: "call-7", Issued: t0, Expires: t0.Add(time.Minute)}
}

func TestCommandRoundTripAndRefusals(t *testing.T) {
	priv := fixedKey(2)
	pub := priv.Public().(ed25519.PublicKey)
	c := sampleCommand()
	if err := VerifyCommand(pub, c); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	c.Issued = c.Issued.In(time.FixedZone("X", 7200))
	if err := SignCommand(priv, c); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(c)
	got, err := wire.DecodeCommand(data, "block-a-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyCommand(pub, got); err != nil {
		t.Fatalf("signed command does not verify after JSON: %v", err)
	}
	if err := VerifyCommand(fixedKey(9).Public().(ed25519.PublicKey), got); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	// A policy signature is never a command signature.
	p := &wire.Policy{}
	if err := SignPolicy(priv, p); err != nil {
		t.Fatal(err)
	}
	if err := VerifyCommand(pub, &wire.Command{Signature: p.Signature}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("policy signature accepted on a command: %v", err)
	}
	bad := sampleCommand()
	bad.CallID = "\xff"
	if err := SignCommand(priv, bad); !errors.Is(err, ErrNotCanonical) || bad.Signature != nil {
		t.Fatalf("bad utf-8: %v", err)
	}
	if err := SignCommand(priv[:3], sampleCommand()); !errors.Is(err, ErrKey) {
		t.Fatalf("short key: %v", err)
	}
}

// TestTamperEveryCommandField walks wire.Command by reflection (fields added
// later are included) and requires every change to break the signature.
func TestTamperEveryCommandField(t *testing.T) {
	priv := fixedKey(3)
	pub := priv.Public().(ed25519.PublicKey)
	c := sampleCommand()
	if err := SignCommand(priv, c); err != nil {
		t.Fatal(err)
	}
	n := tamperAll(t, c, func(x any) error { return VerifyCommand(pub, x.(*wire.Command)) })
	if n < 7 {
		t.Fatalf("only %d command fields tampered", n)
	}
}

// TestCommandGolden pins the command canonical form and signature.
func TestCommandGolden(t *testing.T) {
	c := sampleCommand()
	if err := SignCommand(fixedKey(2), c); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(CommandBytes(c))
	if got := hex.EncodeToString(sum[:]); got != goldenCommandBytes {
		t.Errorf("command bytes = %s, want %s", got, goldenCommandBytes)
	}
	if got := hex.EncodeToString(c.Signature); got != goldenCommandSig {
		t.Errorf("command sig = %s, want %s", got, goldenCommandSig)
	}

	// And byte for byte as the package documentation describes it.
	var w []byte
	u64 := func(x uint64) {
		for i := 7; i >= 0; i-- {
			w = append(w, byte(x>>(8*i)))
		}
	}
	str := func(s string) { u64(uint64(len(s))); w = append(w, s...) }
	tm := func(t time.Time) {
		u64(uint64(t.Unix()))
		ns := uint32(t.Nanosecond())
		w = append(w, byte(ns>>24), byte(ns>>16), byte(ns>>8), byte(ns))
	}
	str("kinline/sign/v1/command")
	u64(1)
	str("cmd-1")
	str("block-a-1")
	str("end_call")
	str("call-7")
	tm(c.Issued)
	tm(c.Expires)
	if got := CommandBytes(c); !bytes.Equal(got, w) {
		t.Fatalf("command canonical form\n got %x\nwant %x", got, w)
	}
}

const (
	goldenCommandBytes = "e4d272f34281cdef220b109b5eaaf32f75a91ba9b406d70c299561b9a11ea32b"
	goldenCommandSig   = "8eb4a77d00fff785fa92dff6c5b7f4292c2ec5d7ec09d42dccf9e0e091be63274e54cbc41826278094e5cafce225ee725ee8d331477305db572d2f5847c6810c"
)

// TestCommandByOutsideSignature: Command.By (capability 21) is not in the
// command form, so a command that carries it verifies at an appliance that
// does not know the field (which decodes the JSON without it), and a
// command from a central without it verifies at one that does.
func TestCommandByOutsideSignature(t *testing.T) {
	priv := fixedKey(2)
	pub := priv.Public().(ed25519.PublicKey)
	c := sampleCommand()
	c.By = "user:alice (Alice Smith)"
	if err := SignCommand(priv, c); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(c)
	var old map[string]any
	if err := json.Unmarshal(data, &old); err != nil || old["by"] != c.By {
		t.Fatalf("by not on the wire: %s", data)
	}
	delete(old, "by")
	stripped, _ := json.Marshal(old)
	got, err := wire.DecodeCommand(stripped, "block-a-1")
	if err != nil || got.By != "" {
		t.Fatalf("decode without by: %+v, %v", got, err)
	}
	if err := VerifyCommand(pub, got); err != nil {
		t.Fatalf("an appliance without by cannot verify: %v", err)
	}
	if !bytes.Equal(CommandBytes(c), CommandBytes(got)) {
		t.Fatal("by changes the signed form")
	}
}
