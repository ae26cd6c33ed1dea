package wire

// Policy deltas and snapshot requests (CapabilityVersion 9, additive,
// protocol version 1 unchanged; see capver.go).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrDeltaBase: a delta does not apply to the given policy (another
// appliance, another base version, or an inconsistent delta).
var ErrDeltaBase = errors.New("wire: policy delta does not apply to this policy")

// MaxPolicyRequestReason bounds PolicyRequest.Reason.
const MaxPolicyRequestReason = 256

// TopicPolicyDelta is where central publishes (retained) an appliance's
// latest policy delta.
func TopicPolicyDelta(appliance string) string {
	return TopicRoot + "/" + appliance + "/down/policy-delta"
}

// TopicPolicyRequest is where an appliance asks central for a policy
// snapshot (a PolicyRequest); it lies under the appliance's up/ subtree,
// so the brokers' ACLs let only that appliance publish there.
func TopicPolicyRequest(appliance string) string {
	return TopicRoot + "/" + appliance + "/up/policy-request"
}

// TopicAllPolicyRequests is central's subscription to every appliance's
// snapshot requests.
const TopicAllPolicyRequests = TopicRoot + "/+/up/policy-request"

// PolicyDelta turns an appliance's policy of version BaseVersion into the
// policy of Version. Fields left nil are unchanged; the others replace the
// base's values whole. People are replaced or added whole (Upsert, by ID)
// and removed by ID (Remove); Order, when not empty, lists every person id
// of the result in its order (otherwise: the base's order with removed
// people dropped, changed people in place and new ones appended in Upsert
// order).
type PolicyDelta struct {
	V           int       `json:"v"`
	ApplianceID string    `json:"appliance_id"`
	Block       string    `json:"block"`
	BaseVersion uint64    `json:"base_version"`
	Version     uint64    `json:"version"`
	IssuedAt    time.Time `json:"issued_at"`
	Upsert      []Person  `json:"upsert,omitempty"`
	Remove      []string  `json:"remove,omitempty"`
	Order       []string  `json:"order,omitempty"`

	Rules    *[]CallRule   `json:"rules,omitempty"`
	Windows  *[]Window     `json:"windows,omitempty"`
	Numbers  *[]NumberAttr `json:"numbers,omitempty"`
	Prison   *string       `json:"prison,omitempty"`
	TimeZone *string       `json:"time_zone,omitempty"`
	// Money replaces the money part when set; NoMoney removes it (the
	// result has Money nil).
	Money   *MoneyPolicy `json:"money,omitempty"`
	NoMoney bool         `json:"no_money,omitempty"`

	// Signature is central's signature of the resulting Policy
	// (shared/sign.SignPolicy over Apply's result).
	Signature []byte `json:"sig,omitempty"`
}

// PolicyRequest asks central for a snapshot of the appliance's policy.
type PolicyRequest struct {
	V           int    `json:"v"`
	ApplianceID string `json:"appliance_id"`
	// Have is the version the appliance holds (0: none).
	Have uint64 `json:"have"`
	// Reason says why, for the logs (e.g. "delta 7->8, have 5").
	Reason string `json:"reason,omitempty"`
}

// DecodePolicyDelta unmarshals an untrusted delta and checks its version,
// that it names wantAppliance (when not empty) and that it is consistent
// (Version > BaseVersion, no person both upserted and removed, no id twice,
// Order without duplicates). It checks neither the signature nor the base.
func DecodePolicyDelta(data []byte, wantAppliance string) (*PolicyDelta, error) {
	var d PolicyDelta
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkVersion(d.V); err != nil {
		return nil, err
	}
	if wantAppliance != "" && d.ApplianceID != wantAppliance {
		return nil, fmt.Errorf("%w: delta for appliance %q on %q's topic", ErrMalformed, d.ApplianceID, wantAppliance)
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	return &d, nil
}

// Validate checks a delta's version and that it is consistent (see
// DecodePolicyDelta). It checks neither the signature nor the base.
func (d *PolicyDelta) Validate() error {
	if err := checkVersion(d.V); err != nil {
		return err
	}
	return d.check()
}

func (d *PolicyDelta) check() error {
	if d.Version <= d.BaseVersion {
		return fmt.Errorf("%w: delta from version %d to %d", ErrMalformed, d.BaseVersion, d.Version)
	}
	if d.NoMoney && d.Money != nil {
		return fmt.Errorf("%w: delta both sets and removes money", ErrMalformed)
	}
	if d.Money != nil {
		if err := d.Money.Validate(); err != nil {
			return err
		}
	}
	seen := make(map[string]bool, len(d.Upsert)+len(d.Remove))
	for i := range d.Upsert {
		id := d.Upsert[i].ID
		if id == "" || seen[id] {
			return fmt.Errorf("%w: person id %q empty or twice in delta", ErrMalformed, id)
		}
		seen[id] = true
	}
	for _, id := range d.Remove {
		if id == "" || seen[id] {
			return fmt.Errorf("%w: removed person id %q empty or twice in delta", ErrMalformed, id)
		}
		seen[id] = true
	}
	ord := make(map[string]bool, len(d.Order))
	for _, id := range d.Order {
		if id == "" || ord[id] {
			return fmt.Errorf("%w: person id %q empty or twice in delta order", ErrMalformed, id)
		}
		ord[id] = true
	}
	return nil
}

// DecodePolicyRequest unmarshals an untrusted snapshot request and checks
// its version and that it names wantAppliance (when not empty).
func DecodePolicyRequest(data []byte, wantAppliance string) (*PolicyRequest, error) {
	var r PolicyRequest
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkVersion(r.V); err != nil {
		return nil, err
	}
	if wantAppliance != "" && r.ApplianceID != wantAppliance {
		return nil, fmt.Errorf("%w: request from appliance %q on %q's topic", ErrMalformed, r.ApplianceID, wantAppliance)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks a snapshot request's version and the size of its reason.
func (r *PolicyRequest) Validate() error {
	if err := checkVersion(r.V); err != nil {
		return err
	}
	return r.check()
}

func (r *PolicyRequest) check() error {
	if len(r.Reason) > MaxPolicyRequestReason {
		return fmt.Errorf("%w: reason of %d bytes", ErrMalformed, len(r.Reason))
	}
	return nil
}

// DiffPolicy returns the delta that turns old into new (the same
// appliance, new.Version > old.Version). Its Signature is left empty:
// central signs the result (sign.SignPolicyDelta). Values are compared by
// their JSON encoding, so what survives the wire unchanged is not resent.
func DiffPolicy(old, new *Policy) (*PolicyDelta, error) {
	if old == nil || new == nil || old.ApplianceID != new.ApplianceID || new.Version <= old.Version {
		return nil, fmt.Errorf("%w: no delta from this base", ErrDeltaBase)
	}
	d := &PolicyDelta{V: new.V, ApplianceID: new.ApplianceID, Block: new.Block, BaseVersion: old.Version, Version: new.Version, IssuedAt: new.IssuedAt}
	oldIdx := make(map[string]int, len(old.People))
	for i := range old.People {
		oldIdx[old.People[i].ID] = i
	}
	newIDs := make(map[string]bool, len(new.People))
	for i := range new.People {
		p := &new.People[i]
		newIDs[p.ID] = true
		if j, ok := oldIdx[p.ID]; ok && sameJSON(&old.People[j], p) {
			continue
		}
		d.Upsert = append(d.Upsert, *p)
	}
	for i := range old.People {
		if !newIDs[old.People[i].ID] {
			d.Remove = append(d.Remove, old.People[i].ID)
		}
	}
	if !sameJSON(old.Rules, new.Rules) {
		d.Rules = nonNil(new.Rules)
	}
	if !sameJSON(old.Windows, new.Windows) {
		d.Windows = nonNil(new.Windows)
	}
	if !sameJSON(old.Numbers, new.Numbers) {
		d.Numbers = nonNil(new.Numbers)
	}
	if old.Prison != new.Prison {
		d.Prison = &new.Prison
	}
	if old.TimeZone != new.TimeZone {
		d.TimeZone = &new.TimeZone
	}
	switch {
	case new.Money == nil && old.Money != nil:
		d.NoMoney = true
	case new.Money != nil && !sameJSON(old.Money, new.Money):
		d.Money = new.Money
	}
	// Say the order only when merging would not reproduce it.
	merged, err := d.Apply(old)
	if err != nil {
		return nil, err
	}
	for i := range new.People {
		if merged.People[i].ID != new.People[i].ID {
			d.Order = make([]string, len(new.People))
			for j := range new.People {
				d.Order[j] = new.People[j].ID
			}
			break
		}
	}
	return d, nil
}

// Apply returns the policy that d makes of base, with d.Signature as its
// Signature; base is not modified. It fails with ErrDeltaBase when base is
// not d's base (another appliance or version) or d does not fit it (a
// removed person base lacks, an Order that does not list the result's
// people). A result without people has People nil. It does not check the
// signature: verify the result.
func (d *PolicyDelta) Apply(base *Policy) (*Policy, error) {
	if base == nil {
		return nil, fmt.Errorf("%w: no base policy", ErrDeltaBase)
	}
	if base.ApplianceID != d.ApplianceID || base.Version != d.BaseVersion {
		return nil, fmt.Errorf("%w: delta %d->%d for %q, policy %d for %q", ErrDeltaBase, d.BaseVersion, d.Version, d.ApplianceID, base.Version, base.ApplianceID)
	}
	out := *base
	out.V, out.Block, out.Version, out.IssuedAt = d.V, d.Block, d.Version, d.IssuedAt
	out.Signature = d.Signature

	removed := make(map[string]bool, len(d.Remove))
	for _, id := range d.Remove {
		removed[id] = true
	}
	up := make(map[string]int, len(d.Upsert))
	for i := range d.Upsert {
		up[d.Upsert[i].ID] = i
	}
	people := make([]Person, 0, len(base.People)+len(d.Upsert))
	placed := make(map[string]bool, len(d.Upsert))
	found := 0
	for i := range base.People {
		p := base.People[i]
		if removed[p.ID] {
			found++
			continue
		}
		if j, ok := up[p.ID]; ok {
			p = d.Upsert[j]
			placed[p.ID] = true
		}
		people = append(people, p)
	}
	if found != len(d.Remove) {
		return nil, fmt.Errorf("%w: delta removes people the policy does not hold", ErrDeltaBase)
	}
	for i := range d.Upsert {
		if !placed[d.Upsert[i].ID] {
			people = append(people, d.Upsert[i])
		}
	}
	if len(d.Order) > 0 {
		if len(d.Order) != len(people) {
			return nil, fmt.Errorf("%w: order lists %d people, result has %d", ErrDeltaBase, len(d.Order), len(people))
		}
		byID := make(map[string]int, len(people))
		for i := range people {
			byID[people[i].ID] = i
		}
		ordered := make([]Person, len(people))
		for i, id := range d.Order {
			j, ok := byID[id]
			if !ok {
				return nil, fmt.Errorf("%w: order names %q, not in the result", ErrDeltaBase, id)
			}
			ordered[i] = people[j]
		}
		people = ordered
	}
	if len(people) == 0 {
		people = nil // a policy without people is sent as null
	}
	out.People = people

	if d.Rules != nil {
		out.Rules = *d.Rules
	}
	if d.Windows != nil {
		out.Windows = *d.Windows
	}
	if d.Numbers != nil {
		out.Numbers = *d.Numbers
	}
	if d.Prison != nil {
		out.Prison = *d.Prison
	}
	if d.TimeZone != nil {
		out.TimeZone = *d.TimeZone
	}
	switch {
	case d.NoMoney:
		out.Money = nil
	case d.Money != nil:
		out.Money = d.Money
	}
	return &out, nil
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// nonNil points at xs, or at an empty slice when xs is nil: a pointer to a
// nil slice would travel as JSON null and arrive as "unchanged".
func nonNil[T any](xs []T) *[]T {
	if xs == nil {
		xs = []T{}
	}
	return &xs
}
