package main

// The small prison the demo fills the console with, all through the real
// JSON API: prison settings, money settings and rates, prison-wide
// numbers, call rules, an officer, console users for every role (with
// their second factor where the role needs one), people in two blocks with
// cards, PINs and languages, contacts in every approval state (decided by
// the block officer, signed in), a suspension, and recharges and an
// adjustment posted by the finance user.

import (
	"context"
	"fmt"
	"time"

	"github.com/kinline/kinline/central/store"
	peoplestore "github.com/kinline/kinline/central/store/people"
	userstore "github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/shared/wire"
	"github.com/kinline/kinline/tools/stack"
)

// The prison.
const (
	prisonName = "HMP Kinline"
	timeZone   = "Europe/London"
	currency   = "GBP"
	blockB     = "B" // a block without an appliance: the officer of A cannot see it
	highLevel  = "high"
)

// Prison-wide numbers (the calls below dial them).
const (
	blockedNumber  = "+447700900666"
	legalLine      = "+442079460100"
	helpline       = "+448000850850"
	officerCard    = "0F0F0F0F"
	officerStaffNo = "S-0042"
	officerName    = "Officer Reyes"
)

// rates are the prison's rates table: different destination types,
// prices, billing units and connection fees, and a free range.
var rates = []wire.Rate{
	{Prefix: "+4420", DestinationType: wire.DestLocal, Name: "London landline", PerMinute: 6, BillingUnitSeconds: 60},
	{Prefix: "+44", DestinationType: wire.DestNational, Name: "UK landline", PerMinute: 9, BillingUnitSeconds: 60},
	{Prefix: "+447", DestinationType: wire.DestMobile, Name: "UK mobile", PerMinute: 18, BillingUnitSeconds: 30},
	{Prefix: "+34", DestinationType: wire.DestInternational, Name: "Spain", PerMinute: 35, BillingUnitSeconds: 60, ConnectionFee: 10},
	{Prefix: "+", DestinationType: wire.DestInternational, Name: "Rest of the world", PerMinute: 60, BillingUnitSeconds: 60, ConnectionFee: 20},
	{Prefix: "+44800", DestinationType: wire.DestCustom, Name: "Freephone", PerMinute: 0, BillingUnitSeconds: 1},
}

// globalNumbers are the prison-wide list, each with its note.
var globalNumbers = []wire.NumberAttr{
	{Number: blockedNumber, Kind: wire.NumberKindBlocked, Note: "Victim's number: no contact order 2024/117, nobody may call it"},
	{Number: legalLine, Kind: wire.NumberKindPrivileged, Note: "Morgan & Partners solicitors, legal advice line: never recorded"},
	{Number: helpline, Kind: wire.NumberKindFree, Note: "Prisoners' advice helpline: free of charge to every caller"},
}

// rules are block A's call rules: a default for everyone and officer
// confirmation (button and card) for the "high" supervision level.
var rules = []wire.CallRule{
	{Level: "", MaxDurationSeconds: 1200, CallsPerDay: 6, CallsPerWeek: 30},
	{Level: highLevel, Confirm: wire.ConfirmBoth, ConfirmWindowSeconds: 60, OfficerTapEndsCall: true, MaxDurationSeconds: 900, CallsPerDay: 3},
}

// demoUser is a console user.
type demoUser struct {
	Username, Name, Role string
	Blocks               []string
	Password             string
	// TOTP: a second factor is enrolled for the user (the role plays or
	// exports recordings); Secret is its base32 secret once enrolled.
	TOTP   bool
	Secret string
	ID     string
}

// users has one user per role.
var users = []*demoUser{
	{Username: "admin", Name: "Ada Okoro (system admin)", Role: store.RoleSystemAdmin, Password: "demo-admin-password", TOTP: true},
	{Username: "officer.a", Name: "Pat Reyes (block A officer)", Role: store.RoleBlockOfficer, Blocks: []string{stack.Block}, Password: "demo-officer-password", TOTP: true},
	{Username: "investigator", Name: "Lee Hart (investigator)", Role: store.RoleInvestigator, Password: "demo-investigator-password", TOTP: true},
	{Username: "finance", Name: "Rowan Price (finance)", Role: store.RoleFinance, Password: "demo-finance-password"},
	{Username: "auditor", Name: "Kim Ward (read-only)", Role: store.RoleReadOnly, Password: "demo-readonly-password"},
}

// user returns the demo user with username.
func user(username string) *demoUser {
	for _, u := range users {
		if u.Username == username {
			return u
		}
	}
	panic("demo: no user " + username)
}

// demoContact is a number on a person's list. Status is the state it
// ends in: approved or rejected by the block's officer (Reason says why),
// or requested (waiting for a decision).
type demoContact struct {
	Number, Name, Relationship, Identity string
	Status, Reason                       string
	ID                                   string
}

// demoPerson is a person in prison.
type demoPerson struct {
	PrisonNumber, Name, Block, Language, Card string
	// PIN, when set, must be entered at the hotline (people with one
	// cannot dial straight from the handset).
	PIN   string
	Level string
	// Suspended: suspended after enrolment, with SuspendReason, for
	// SuspendDays.
	Suspended     bool
	SuspendReason string
	SuspendDays   int
	Contacts      []*demoContact
	// Recharge (an amount in pounds, with Receipt) is posted by the
	// finance user; Adjust, when set, corrects it with AdjustReason.
	Recharge, Receipt    string
	Adjust, AdjustReason string
	ID                   string
}

// The people the calls use.
var (
	alex = &demoPerson{PrisonNumber: "A1234BC", Name: "Alex Morgan", Block: stack.Block, Language: "en", Card: "04A1B2C3",
		Recharge: "10.00", Receipt: "CANTEEN-1001",
		Contacts: []*demoContact{
			{Number: "+442079460001", Name: "Pat Morgan", Relationship: "mother", Identity: "passport 533380006, 12 Elm Road, London",
				Status: peoplestore.ContactApproved, Reason: "identity checked against passport and utility bill"},
			{Number: "+442079460999", Name: "Jamie Morgan", Relationship: "brother", Status: peoplestore.ContactRequested},
			{Number: "+447700900555", Name: "Unknown caller", Relationship: "friend",
				Status: peoplestore.ContactRejected, Reason: "number registered to a co-defendant"},
		}}
	jordan = &demoPerson{PrisonNumber: "H7788JK", Name: "Jordan Lee", Block: stack.Block, Language: "en", Card: "04C0FFEE", Level: highLevel,
		Recharge: "5.00", Receipt: "CANTEEN-1002",
		Contacts: []*demoContact{
			{Number: "+442079460002", Name: "Sam Lee", Relationship: "father", Identity: "driving licence LEE99705", Status: peoplestore.ContactApproved, Reason: "identity checked"},
		}}
	sam = &demoPerson{PrisonNumber: "B2345CD", Name: "Sam Patel", Block: stack.Block, Language: "en", Card: "04B2C3D4",
		Recharge: "8.00", Receipt: "CANTEEN-1003",
		Contacts: []*demoContact{
			{Number: "+447700900321", Name: "Asha Patel", Relationship: "sister", Status: peoplestore.ContactApproved, Reason: "known to the family liaison officer"},
		}}
	maria = &demoPerson{PrisonNumber: "C3456DE", Name: "María García", Block: stack.Block, Language: "es", Card: "04E5F6A7", PIN: "2468",
		Recharge: "15.00", Receipt: "CANTEEN-1004",
		Contacts: []*demoContact{
			{Number: "+34600123456", Name: "Lucía García", Relationship: "mother", Identity: "DNI 12345678Z, Madrid", Status: peoplestore.ContactApproved, Reason: "identity checked through the consulate"},
			{Number: "+34911234567", Name: "Diego García", Relationship: "brother", Status: peoplestore.ContactRequested},
		}}
	chris = &demoPerson{PrisonNumber: "D4567EF", Name: "Chris Taylor", Block: stack.Block, Language: "en", Card: "04D4E5F6",
		Recharge: "1.00", Receipt: "CANTEEN-1005",
		Adjust: "-1.00", AdjustReason: "recharge CANTEEN-1005 was for D4567FE (wrong account); moved there",
		Contacts: []*demoContact{
			{Number: "+447700900123", Name: "Jo Taylor", Relationship: "partner", Status: peoplestore.ContactApproved, Reason: "identity checked"},
		}}
	dana = &demoPerson{PrisonNumber: "F6789GH", Name: "Dana Whitfield", Block: stack.Block, Language: "en", Card: "04F0F1F2", PIN: "1122",
		Suspended: true, SuspendReason: "adjudication: misuse of the phones (third-party calls)", SuspendDays: 14,
		Recharge: "3.00", Receipt: "CANTEEN-1006",
		Contacts: []*demoContact{
			{Number: "+442079460321", Name: "Robin Whitfield", Relationship: "husband", Status: peoplestore.ContactApproved, Reason: "identity checked"},
		}}
)

// people is everyone the demo enrols, block A first.
var people = []*demoPerson{alex, jordan, sam, maria, chris,
	{PrisonNumber: "E5678FG", Name: "Tomás Ruiz", Block: stack.Block, Language: "es", Card: "04A7B8C9", PIN: "9753",
		Recharge: "20.00", Receipt: "CANTEEN-1007",
		Contacts: []*demoContact{
			{Number: "+34622334455", Name: "Carmen Ruiz", Relationship: "wife", Status: peoplestore.ContactRequested},
			{Number: "+442079460444", Name: "Ben Ruiz", Relationship: "son", Status: peoplestore.ContactRequested},
		}},
	dana,
	{PrisonNumber: "K1111AA", Name: "Morgan Blake", Block: blockB, Language: "en", Card: "04B0B0B1", PIN: "3141",
		Recharge: "12.50", Receipt: "CANTEEN-2001",
		Contacts: []*demoContact{
			{Number: "+442079460555", Name: "Ellis Blake", Relationship: "daughter", Status: peoplestore.ContactApproved, Reason: "identity checked"},
		}},
	{PrisonNumber: "K2222BB", Name: "Ines Novak", Block: blockB, Language: "en", Card: "04B0B0B2",
		Recharge: "6.00", Receipt: "CANTEEN-2002",
		Contacts: []*demoContact{
			{Number: "+385912345678", Name: "Marta Novak", Relationship: "mother", Status: peoplestore.ContactRequested},
		}},
}

// caller is what the seeding calls the JSON API through: the admin token
// (stack.Stack) or a signed-in user (session).
type caller interface {
	Do(ctx context.Context, method, path string, body, out any) error
}

// seedPrison sets up the prison's settings, money, numbers, rules, the
// officer and the console users (enrolling their second factors).
func (d *demo) seedPrison(ctx context.Context) error {
	st := d.st
	if err := d.do("prison settings: name, time zone, contacts per person", func() error {
		return st.Do(ctx, "PUT", "/api/v1/settings", peoplestore.PrisonSettings{PrisonName: prisonName, TimeZone: timeZone, MaxContacts: 10}, nil)
	}); err != nil {
		return err
	}
	if err := d.do(fmt.Sprintf("money: charging on, %s in %s, %d rates (local, national, mobile, international, freephone)", currency, timeZone, len(rates)), func() error {
		if err := st.Do(ctx, "PUT", "/api/v1/money/settings", store.MoneySettings{Currency: currency, Digits: 2, TimeZone: timeZone, Charging: store.ChargingOn}, nil); err != nil {
			return err
		}
		return st.Do(ctx, "PUT", "/api/v1/rates", map[string]any{"rates": rates}, nil)
	}); err != nil {
		return err
	}
	if err := d.do("prison-wide numbers: a blocked one, a privileged legal line, a free helpline", func() error {
		for _, n := range globalNumbers {
			if err := st.Do(ctx, "POST", "/api/v1/numbers", n, nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := d.do(fmt.Sprintf("block %s (no appliance) and block %s's call rules (default, and officer confirmation for %q)", blockB, stack.Block, highLevel), func() error {
		if err := st.Do(ctx, "POST", "/api/v1/blocks", map[string]string{"name": blockB}, nil); err != nil {
			return err
		}
		return st.SetRules(ctx, rules)
	}); err != nil {
		return err
	}
	if err := d.do(fmt.Sprintf("%s enrolled as block %s's officer (staff %s, card %s)", officerName, stack.Block, officerStaffNo, officerCard), func() error {
		var err error
		d.officerID, err = st.EnrolOfficer(ctx, officerStaffNo, officerName, officerCard)
		return err
	}); err != nil {
		return err
	}
	return d.do("console users for every role, with a second factor for those who play recordings", func() error {
		for _, u := range users {
			var created userstore.User
			if err := st.Do(ctx, "POST", "/api/v1/users", map[string]any{
				"username": u.Username, "display_name": u.Name, "role": u.Role, "blocks": u.Blocks, "password": u.Password,
			}, &created); err != nil {
				return err
			}
			u.ID = created.ID
			if !u.TOTP {
				continue
			}
			var enrolled struct {
				Secret string `json:"secret"`
			}
			if err := st.Do(ctx, "POST", "/api/v1/users/"+u.ID+"/totp", nil, &enrolled); err != nil {
				return err
			}
			u.Secret = enrolled.Secret
		}
		return nil
	})
}

// seedPeople enrols the people with their cards, PINs and contacts (as
// requested), has the officer of block A decide them (block B's are
// decided with the admin token), suspends whoever is to be suspended and
// has the finance user post the recharges and adjustments.
func (d *demo) seedPeople(ctx context.Context) error {
	st := d.st
	if err := d.do(fmt.Sprintf("%d people enrolled in blocks %s and %s with cards, PINs, languages and contacts (requested)", len(people), stack.Block, blockB), func() error {
		for _, p := range people {
			var created peoplestore.Person
			body := map[string]any{"prison_number": p.PrisonNumber, "name": p.Name, "block": p.Block, "status": wire.StatusActive,
				"language": p.Language, "supervision_level": p.Level}
			if p.PIN != "" {
				body["pin"] = p.PIN
			}
			if err := st.Do(ctx, "POST", "/api/v1/inmates", body, &created); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			p.ID = created.ID
			if err := st.Do(ctx, "POST", "/api/v1/inmates/"+p.ID+"/cards", map[string]string{"uid": p.Card}, nil); err != nil {
				return fmt.Errorf("%s's card: %w", p.Name, err)
			}
			for _, c := range p.Contacts {
				var ct peoplestore.Contact
				if err := st.Do(ctx, "POST", "/api/v1/inmates/"+p.ID+"/contacts", map[string]any{
					"number": c.Number, "name": c.Name, "relationship": c.Relationship, "identity": c.Identity, "status": peoplestore.ContactRequested,
				}, &ct); err != nil {
					return fmt.Errorf("%s's contact %s: %w", p.Name, c.Name, err)
				}
				c.ID = ct.ID
			}
		}
		return nil
	}); err != nil {
		return err
	}

	officer := user("officer.a")
	if err := d.do(fmt.Sprintf("signed in as %s (password and one-time code): approving and rejecting block %s's contacts", officer.Username, stack.Block), func() error {
		se, err := signIn(ctx, st.HTTPAddr, officer.Username, officer.Password, officer.Secret)
		if err != nil {
			return err
		}
		d.officer = se
		for _, p := range people {
			var by caller = se
			if p.Block != stack.Block {
				by = st // outside the officer's scope
			}
			for _, c := range p.Contacts {
				if c.Status == peoplestore.ContactRequested {
					continue
				}
				if err := by.Do(ctx, "POST", "/api/v1/contacts/"+c.ID+"/decision", map[string]string{"status": c.Status, "reason": c.Reason}, nil); err != nil {
					return fmt.Errorf("%s's contact %s: %w", p.Name, c.Name, err)
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}

	if err := d.do(fmt.Sprintf("%s suspended for %d days: %s", dana.Name, dana.SuspendDays, dana.SuspendReason), func() error {
		return st.Do(ctx, "PATCH", "/api/v1/inmates/"+dana.ID, map[string]any{"status": wire.StatusSuspended,
			"status_reason": dana.SuspendReason, "suspended_until": time.Now().Add(time.Duration(dana.SuspendDays) * 24 * time.Hour).UTC()}, nil)
	}); err != nil {
		return err
	}

	fin := user("finance")
	return d.do(fmt.Sprintf("signed in as %s: recharges with receipts for everyone, and an adjustment", fin.Username), func() error {
		se, err := signIn(ctx, st.HTTPAddr, fin.Username, fin.Password, fin.Secret)
		if err != nil {
			return err
		}
		d.finance = se
		for _, p := range people {
			if p.Recharge != "" {
				if err := se.Do(ctx, "POST", "/api/v1/accounts/"+p.ID+"/recharges", map[string]string{"amount": p.Recharge, "receipt": p.Receipt}, nil); err != nil {
					return fmt.Errorf("%s: %w", p.Name, err)
				}
			}
			if p.Adjust != "" {
				if err := se.Do(ctx, "POST", "/api/v1/accounts/"+p.ID+"/adjustments", map[string]string{"amount": p.Adjust, "reason": p.AdjustReason}, nil); err != nil {
					return fmt.Errorf("%s: %w", p.Name, err)
				}
			}
		}
		return nil
	})
}
