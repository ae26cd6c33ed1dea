package sign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/kinline/kinline/shared/wire"
)

// fixedKey is deterministic so that the golden values below are stable.
func fixedKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sampleBatch has every field of every nested struct set.
func sampleBatch(t testing.TB) *wire.Batch {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.UTC)
	evs := []wire.Event{
		{ApplianceID: "block-a-1", Seq: 41, Time: t0, Type: wire.EventCardTap,
			Payload:  mustJSON(t, wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04A1B2C3", Known: true}),
			PrevHash: "aa"},
		{ApplianceID: "block-a-1", Seq: 42, Time: t0.Add(time.Second), Type: wire.EventAlarm,
			Payload: mustJSON(t, wire.Alarm{Code: "reader_down", Source: "r1", Message: "a <b> & c"})},
	}
	evs[0].Seal()
	evs[1].PrevHash = evs[0].Hash
	evs[1].Seal()
	return &wire.Batch{V: wire.ProtocolVersion, ApplianceID: "block-a-1", Events: evs}
}

func samplePolicy() *wire.Policy {
	return &wire.Policy{
		V: wire.ProtocolVersion, ApplianceID: "block-a-1", Block: "A", Version: 7,
		IssuedAt: time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC),
		People: []wire.Person{
			{ID: "p1", PrisonNumber: "A1234", Name: "Jo Smith", Status: wire.StatusActive, Language: "en",
				Cards: []string{"04A1B2C3", "04FFEE00"}, PINHash: "argon2id$x",
				Numbers: []wire.ApprovedNumber{
					{Number: "+441234567890", Name: "Mum", Relationship: "mother", Privileged: false},
					{Number: "+448000000000", Name: "Solicitor", Relationship: "legal", Privileged: true},
				}, Officer: false, SupervisionLevel: "high", Confirm: wire.ConfirmCard, ConfirmWindowSeconds: 45,
				Windows: []wire.Window{{Days: []int{1, 3}, Start: "09:00", End: "12:00"}}, MaxDurationSeconds: 600,
				CallsPerDay: 4, CallsPerMonth: 40},
			{ID: "o1", PrisonNumber: "-", Name: "Officer K", Status: wire.StatusActive, Language: "fr",
				Cards: []string{"0A0B0C0D"}, PINHash: "h",
				Numbers: []wire.ApprovedNumber{{Number: "1", Name: "n", Relationship: "r", Privileged: true, Free: true, Hidden: true}},
				Officer: true, Windows: []wire.Window{{Days: []int{0}, Start: "22:00", End: "02:00"}}},
		},
		Rules: []wire.CallRule{
			{Level: "", Confirm: wire.ConfirmNone, Windows: []wire.Window{{Days: []int{6}, Start: "07:00", End: "21:00"}}},
			{Level: "high", Confirm: wire.ConfirmBoth, ConfirmWindowSeconds: 60, OfficerTapEndsCall: true,
				MaxDurationSeconds: 900, CallsPerDay: 2, CallsPerWeek: 7, CallsPerMonth: 20,
				Windows: []wire.Window{{Days: []int{2}, Start: "10:00", End: "11:00"}}},
		},
		Prison: "HMP Example", TimeZone: "Europe/London",
		Windows: []wire.Window{{Days: []int{1, 2, 3, 4, 5}, Start: "08:00", End: "20:00"}},
		Numbers: []wire.NumberAttr{{Number: "+44800*", Kind: wire.NumberKindFree, Note: "freephone"}},
		Money: &wire.MoneyPolicy{Currency: "GBP", Digits: 2, TimeZone: "Europe/London",
			Rates: []wire.Rate{{Prefix: "+447", DestinationType: wire.DestMobile, Name: "mobile", PerMinute: 12,
				BillingUnitSeconds: 60, ConnectionFee: 5, Rounding: "up"}},
			Accounts: []wire.AccountMoney{{Account: "p1", Balance: 1500, CallsPerDay: 3, CallsPerWeek: 10, CallsPerMonth: 30,
				RecentCalls: []wire.CallStamp{{CallID: "c1", At: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}}}},
			IncludedSeq: 41},
	}
}

func TestBatchRoundTripThroughJSON(t *testing.T) {
	priv := fixedKey(1)
	b := sampleBatch(t)
	if err := SignBatch(priv, b); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.Decode[wire.Batch](data, "block-a-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyBatch(priv.Public().(ed25519.PublicKey), got); err != nil {
		t.Fatalf("signed batch does not verify after JSON round trip: %v", err)
	}
	for i := range got.Events {
		if err := got.Events[i].Verify(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPolicyRoundTripThroughJSON(t *testing.T) {
	priv := fixedKey(2)
	p := samplePolicy()
	// A zone other than UTC must not matter: the instant is signed.
	p.IssuedAt = p.IssuedAt.In(time.FixedZone("X", 3600))
	if err := SignPolicy(priv, p); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.Decode[wire.Policy](data, "")
	if err != nil {
		t.Fatal(err)
	}
	got.IssuedAt = got.IssuedAt.UTC()
	if err := VerifyPolicy(priv.Public().(ed25519.PublicKey), got); err != nil {
		t.Fatalf("signed policy does not verify after JSON round trip: %v", err)
	}
}

func TestUnsignedRefused(t *testing.T) {
	pub := fixedKey(1).Public().(ed25519.PublicKey)
	if err := VerifyBatch(pub, sampleBatch(t)); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned batch: got %v, want ErrUnsigned", err)
	}
	if err := VerifyPolicy(pub, samplePolicy()); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned policy: got %v, want ErrUnsigned", err)
	}
}

func TestWrongKeyRefused(t *testing.T) {
	b, p := sampleBatch(t), samplePolicy()
	if err := SignBatch(fixedKey(1), b); err != nil {
		t.Fatal(err)
	}
	if err := SignPolicy(fixedKey(1), p); err != nil {
		t.Fatal(err)
	}
	other := fixedKey(9).Public().(ed25519.PublicKey)
	if err := VerifyBatch(other, b); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("batch under wrong key: got %v, want ErrBadSignature", err)
	}
	if err := VerifyPolicy(other, p); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("policy under wrong key: got %v, want ErrBadSignature", err)
	}
}

func TestMalformedSignatureAndKeys(t *testing.T) {
	priv := fixedKey(1)
	pub := priv.Public().(ed25519.PublicKey)
	b := sampleBatch(t)
	if err := SignBatch(priv, b); err != nil {
		t.Fatal(err)
	}
	full := b.Signature
	for _, sig := range [][]byte{full[:10], append(append([]byte{}, full...), 0), {0}} {
		b.Signature = sig
		if err := VerifyBatch(pub, b); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature of %d bytes: got %v, want ErrBadSignature", len(sig), err)
		}
	}
	b.Signature = full
	if err := VerifyBatch(pub[:31], b); !errors.Is(err, ErrKey) {
		t.Fatalf("short public key: got %v, want ErrKey", err)
	}
	if err := SignBatch(priv[:32], b); !errors.Is(err, ErrKey) {
		t.Fatalf("short private key: got %v, want ErrKey", err)
	}
	if err := SignPolicy(nil, samplePolicy()); !errors.Is(err, ErrKey) {
		t.Fatalf("nil private key: got %v, want ErrKey", err)
	}
}

func TestBatchSignatureIsNotAPolicySignature(t *testing.T) {
	priv := fixedKey(1)
	b := &wire.Batch{}
	if err := SignBatch(priv, b); err != nil {
		t.Fatal(err)
	}
	p := &wire.Policy{Signature: b.Signature}
	if err := VerifyPolicy(priv.Public().(ed25519.PublicKey), p); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("batch signature accepted on a policy: %v", err)
	}
}

func TestSignRefusesUntransmittableValues(t *testing.T) {
	priv := fixedKey(1)
	cases := map[string]func(b *wire.Batch){
		"spaced payload":  func(b *wire.Batch) { b.Events[0].Payload = json.RawMessage(`{"uid": "04"}`) },
		"nil payload":     func(b *wire.Batch) { b.Events[0].Payload = nil },
		"invalid payload": func(b *wire.Batch) { b.Events[0].Payload = json.RawMessage(`{"uid"`) },
		"unescaped html":  func(b *wire.Batch) { b.Events[1].Payload = json.RawMessage(`{"m":"<b>"}`) },
		"bad utf-8":       func(b *wire.Batch) { b.ApplianceID = "block\xff" },
	}
	for name, mutate := range cases {
		b := sampleBatch(t)
		mutate(b)
		if err := SignBatch(priv, b); !errors.Is(err, ErrNotCanonical) {
			t.Errorf("%s: got %v, want ErrNotCanonical", name, err)
		}
		if b.Signature != nil {
			t.Errorf("%s: signature set despite the error", name)
		}
	}
	p := samplePolicy()
	p.People[1].Numbers[0].Name = "\xc3"
	if err := SignPolicy(priv, p); !errors.Is(err, ErrNotCanonical) {
		t.Errorf("policy with bad utf-8: got %v, want ErrNotCanonical", err)
	}
}

// TestTamperEveryField changes, one at a time, every leaf field of a signed
// batch and policy (found by reflection, so fields added to shared/wire later
// are included) and requires verification to fail. A field type the walker
// does not know fails the test: extend the canonical form and the walker.
func TestTamperEveryField(t *testing.T) {
	priv := fixedKey(3)
	pub := priv.Public().(ed25519.PublicKey)

	b := sampleBatch(t)
	if err := SignBatch(priv, b); err != nil {
		t.Fatal(err)
	}
	n := tamperAll(t, b, func(c any) error { return VerifyBatch(pub, c.(*wire.Batch)) })
	if n < 15 {
		t.Fatalf("only %d batch fields tampered", n)
	}

	b2 := sampleBatch(t)
	b2.V, b2.Acked = wire.BatchVersion, 40
	for i := range b2.Events {
		b2.Events[i].Epoch = "e1"
		if i > 0 {
			b2.Events[i].PrevHash = b2.Events[i-1].Hash
		}
		b2.Events[i].Seal()
	}
	if err := SignBatch(priv, b2); err != nil {
		t.Fatal(err)
	}
	if n := tamperAll(t, b2, func(c any) error { return VerifyBatch(pub, c.(*wire.Batch)) }); n < 17 {
		t.Fatalf("only %d fields of a version 2 batch tampered", n)
	}

	p := samplePolicy()
	if err := SignPolicy(priv, p); err != nil {
		t.Fatal(err)
	}
	n = tamperAll(t, p, func(c any) error { return VerifyPolicy(pub, c.(*wire.Policy)) })
	if n < 30 {
		t.Fatalf("only %d policy fields tampered", n)
	}
}

// tamperAll mutates each leaf of a deep copy of msg (a pointer to a signed
// struct) in turn, plus adds and drops an element of each slice, and checks
// that verify refuses every result. It returns the number of mutations.
func tamperAll(t *testing.T, msg any, verify func(any) error) int {
	t.Helper()
	if err := verify(msg); err != nil {
		t.Fatalf("untouched message does not verify: %v", err)
	}
	var paths [][]int
	collect(t, reflect.ValueOf(msg).Elem(), nil, &paths, true)
	count := 0
	for _, path := range paths {
		for _, op := range []string{"change", "grow", "shrink"} {
			c := deepCopy(t, msg)
			v := follow(reflect.ValueOf(c).Elem(), path)
			if !mutate(t, v, op) {
				continue
			}
			count++
			if err := verify(c); !errors.Is(err, ErrBadSignature) {
				t.Errorf("%s of field %s: verify = %v, want ErrBadSignature", op, describe(reflect.ValueOf(msg).Elem(), path), err)
			}
		}
	}
	return count
}

// unsigned are the fields the canonical form leaves out on purpose (see
// the package documentation); TestUnsignedFields checks that they are.
var unsigned = map[string]bool{"MoneyPolicy.Charging": true, "Command.By": true}

// TestUnsignedFields: MoneyPolicy.Charging is outside the signature, so
// that appliances before capability 19 verify a policy that carries it.
func TestUnsignedFields(t *testing.T) {
	priv := fixedKey(3)
	p := samplePolicy()
	if err := SignPolicy(priv, p); err != nil {
		t.Fatal(err)
	}
	p.Money.Charging = wire.ChargingOn
	if err := VerifyPolicy(priv.Public().(ed25519.PublicKey), p); err != nil {
		t.Fatalf("a policy signed without charging and sent with it: %v", err)
	}
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
)

// collect appends the index path of every leaf and every slice under v.
func collect(t *testing.T, v reflect.Value, path []int, out *[][]int, top bool) {
	t.Helper()
	add := func() { *out = append(*out, append([]int(nil), path...)) }
	switch {
	case v.Type() == timeType, v.Type() == rawType:
		add()
		return
	}
	switch v.Kind() {
	case reflect.String, reflect.Int, reflect.Int64, reflect.Uint64, reflect.Bool:
		add()
	case reflect.Pointer:
		add() // dropped to nil by "change"
		if v.IsNil() {
			t.Fatalf("fixture has a nil pointer at %v: fill it so its fields are tampered", path)
		}
		collect(t, v.Elem(), path, out, false)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if top && v.Type().Field(i).Name == "Signature" || unsigned[v.Type().Name()+"."+v.Type().Field(i).Name] {
				continue
			}
			collect(t, v.Field(i), append(path, i), out, false)
		}
	case reflect.Slice:
		add()
		if v.Len() == 0 {
			t.Fatalf("fixture has an empty slice at %v: fill it so its elements are tampered", path)
		}
		for i := 0; i < v.Len(); i++ {
			collect(t, v.Index(i), append(path, i), out, false)
		}
	default:
		t.Fatalf("field of kind %s (%s) at %v is not covered by the tamper walker; extend the canonical form and this test", v.Kind(), v.Type(), path)
	}
}

func follow(v reflect.Value, path []int) reflect.Value {
	for _, i := range path {
		if v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if v.Kind() == reflect.Slice {
			v = v.Index(i)
		} else {
			v = v.Field(i)
		}
	}
	return v
}

func describe(v reflect.Value, path []int) string {
	s := v.Type().Name()
	for _, i := range path {
		if v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if v.Kind() == reflect.Slice {
			s += fmt.Sprintf("[%d]", i)
			v = v.Index(i)
		} else {
			s += "." + v.Type().Field(i).Name
			v = v.Field(i)
		}
	}
	return s
}

// mutate applies op to v and reports whether op applies to v's kind.
func mutate(t *testing.T, v reflect.Value, op string) bool {
	if v.Type() == rawType {
		if op != "change" {
			return false
		}
		v.SetBytes([]byte(`{"tampered":true}`))
		return true
	}
	if v.Type() == timeType {
		if op != "change" {
			return false
		}
		v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Nanosecond)))
		return true
	}
	switch v.Kind() {
	case reflect.Pointer:
		if op != "change" {
			return false
		}
		v.Set(reflect.Zero(v.Type()))
		return true
	case reflect.Slice:
		switch op {
		case "grow":
			v.Set(reflect.Append(v, v.Index(0)))
		case "shrink":
			v.Set(v.Slice(0, v.Len()-1))
		default:
			return false
		}
		return true
	}
	if op != "change" {
		return false
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	default:
		t.Fatalf("cannot mutate %s", v.Type())
	}
	return true
}

func deepCopy(t *testing.T, msg any) any {
	t.Helper()
	data, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	c := reflect.New(reflect.TypeOf(msg).Elem())
	if err := json.Unmarshal(data, c.Interface()); err != nil {
		t.Fatal(err)
	}
	return c.Interface()
}

// TestGolden pins the canonical form and the signature: signatures already
// stored (outboxes, retained policy) must keep verifying, so a change here
// is a protocol change and needs a new domain string.
func TestGolden(t *testing.T) {
	b := sampleBatch(t)
	if err := SignBatch(fixedKey(1), b); err != nil {
		t.Fatal(err)
	}
	p := samplePolicy()
	if err := SignPolicy(fixedKey(2), p); err != nil {
		t.Fatal(err)
	}
	sum := func(x []byte) string { s := sha256.Sum256(x); return hex.EncodeToString(s[:]) }
	got := map[string]string{
		"batch bytes":  sum(BatchBytes(b)),
		"batch sig":    hex.EncodeToString(b.Signature),
		"policy bytes": sum(PolicyBytes(p)),
		"policy sig":   hex.EncodeToString(p.Signature),
	}
	for k, v := range got {
		if want := golden[k]; v != want {
			t.Errorf("%s = %s, want %s", k, v, want)
		}
	}
	if !bytes.HasPrefix(BatchBytes(b), append([]byte{0, 0, 0, 0, 0, 0, 0, byte(len(domainBatch))}, domainBatch...)) {
		t.Error("batch canonical form does not open with its domain string")
	}
}

var golden = map[string]string{
	"batch bytes":  "d9ece40cfd3d1dfbb50810a99c6a6b9d66f54869c86eef5b08c31e3033ed3554",
	"batch sig":    "08d5f9461743d9262fcbb7732cb166537b3d0216ae7f89a7448d05b3e04dc92d7f028cc4c8d5a01e23fbb1b0923cc7903cb7608f876931edb5765b14bdf98800",
	"policy bytes": "8aa5a48d2473734c255686fca932b8fa65125ebeac583e96a92e119da539b104",
	"policy sig":   "3f1f81c5ff416a1a368e1e17558dced6e55518a7070214863a969efe87799e79ee56f7088e30eb55f4ec908a83eefbd4bb1b1b9bc821701c0bd09f254f024d01",
}

// TestCanonicalFormMatchesDoc builds the canonical form of small messages by
// hand, following the package documentation, byte for byte.
func TestCanonicalFormMatchesDoc(t *testing.T) {
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
	at := time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC) // negative Unix seconds

	b := &wire.Batch{V: 1, ApplianceID: "a", Events: []wire.Event{{ApplianceID: "a", Seq: 2, Time: at, Type: "t", Payload: json.RawMessage(`{}`), PrevHash: "p", Hash: "h"}}}
	str("kinline/sign/v1/batch")
	u64(1)
	str("a")
	u64(1)
	str("a")
	u64(2)
	tm(at)
	str("t")
	str("{}")
	str("p")
	str("h")
	if got := BatchBytes(b); !bytes.Equal(got, w) {
		t.Fatalf("batch canonical form\n got %x\nwant %x", got, w)
	}

	w = nil
	p := &wire.Policy{V: 1, ApplianceID: "a", Block: "B", Version: 3, IssuedAt: at, People: []wire.Person{{
		ID: "i", PrisonNumber: "n", Name: "m", Status: "s", Language: "l", Cards: []string{"c"}, PINHash: "h",
		Numbers: []wire.ApprovedNumber{{Number: "1", Name: "x", Relationship: "r", Privileged: true, Hidden: true}}, Officer: true,
		SupervisionLevel: "v", Confirm: "both", ConfirmWindowSeconds: 9,
		Windows: []wire.Window{{Days: []int{1, 5}, Start: "09:00", End: "10:00"}}, MaxDurationSeconds: 120,
		CallsPerDay: 4, CallsPerMonth: 40}},
		Rules: []wire.CallRule{{Level: "v", Confirm: "card", ConfirmWindowSeconds: 30, OfficerTapEndsCall: true,
			MaxDurationSeconds: 300, CallsPerDay: 1, CallsPerWeek: 2, CallsPerMonth: 3}},
		Prison: "HMP X", TimeZone: "UTC",
		Numbers: []wire.NumberAttr{{Number: "+44800*", Kind: "free"}},
		Money: &wire.MoneyPolicy{Currency: "EUR", Digits: 2, TimeZone: "UTC",
			Rates:       []wire.Rate{{Prefix: "+33", DestinationType: "international", PerMinute: 20, BillingUnitSeconds: 60, ConnectionFee: 3, Rounding: "up"}},
			Accounts:    []wire.AccountMoney{{Account: "i", Balance: 1000, CallsPerMonth: 4, RecentCalls: []wire.CallStamp{{CallID: "c9", At: at}}}},
			IncludedSeq: 77}}
	str("kinline/sign/v3/policy")
	u64(1)
	str("a")
	str("B")
	u64(3)
	tm(at)
	u64(1) // people
	for _, s := range []string{"i", "n", "m", "s", "l"} {
		str(s)
	}
	u64(1)
	str("c")
	str("h")
	u64(1)
	str("1")
	str("x")
	str("r")
	w = append(w, 1, 0, 1) // privileged, free, hidden
	w = append(w, 1)       // officer
	str("v")
	str("both")
	u64(9)
	u64(1) // person windows
	u64(2)
	u64(1)
	u64(5)
	str("09:00")
	str("10:00")
	u64(120) // person max duration
	u64(4)   // person calls per day, week, month
	u64(0)
	u64(40)
	u64(1) // rules
	str("v")
	str("card")
	u64(30)
	w = append(w, 1)
	u64(300)
	u64(1)
	u64(2)
	u64(3)
	u64(0) // rule windows
	str("HMP X")
	str("UTC")
	u64(0) // block windows
	u64(1) // numbers
	str("+44800*")
	str("free")
	str("")
	w = append(w, 1) // money present
	str("EUR")
	u64(2)
	str("UTC")
	u64(1)
	str("+33")
	str("international")
	str("")
	u64(20)
	u64(60)
	u64(3)
	str("up")
	u64(1)
	str("i")
	u64(uint64(1000))
	u64(0)
	u64(0)
	u64(4)
	u64(1)
	str("c9")
	tm(at)
	u64(77)
	if got := PolicyBytes(p); !bytes.Equal(got, w) {
		t.Fatalf("policy canonical form\n got %x\nwant %x", got, w)
	}
}

// benchBatch is a batch of n card-tap events, as the outbox drains them.
func benchBatch(b *testing.B, n int) *wire.Batch {
	batch := &wire.Batch{V: wire.ProtocolVersion, ApplianceID: "block-a-1"}
	prev := ""
	for i := 0; i < n; i++ {
		ev := wire.Event{ApplianceID: "block-a-1", Seq: uint64(i + 1), Time: time.Unix(1767225600, int64(i)), Type: wire.EventCardTap,
			Payload: mustJSON(b, wire.CardTap{Reader: "r1", Terminal: "t1", UID: "04A1B2C3D4", Known: true}), PrevHash: prev}
		ev.Seal()
		prev = ev.Hash
		batch.Events = append(batch.Events, ev)
	}
	return batch
}

func BenchmarkSignBatch100(b *testing.B) {
	priv := fixedKey(1)
	batch := benchBatch(b, 100)
	b.ReportAllocs()
	for b.Loop() {
		if err := SignBatch(priv, batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyBatch100(b *testing.B) {
	priv := fixedKey(1)
	batch := benchBatch(b, 100)
	if err := SignBatch(priv, batch); err != nil {
		b.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyBatch(pub, batch); err != nil {
			b.Fatal(err)
		}
	}
}
