package web

import (
	"context"

	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

// PeopleStore is what the console needs of the people's store
// (people.Store): the inmates and officers pages with their cards, PINs,
// photos and contacts, the blocks' rules and windows, the prison-wide
// number list and the settings.
type PeopleStore interface {
	People(ctx context.Context, f people.PeopleFilter) ([]people.Person, error)
	Person(ctx context.Context, id string) (*people.Person, error)
	CreatePerson(ctx context.Context, actor string, in people.NewPerson) (*people.Person, error)
	UpdatePerson(ctx context.Context, actor, id string, up people.PersonUpdate) (*people.Person, []string, error)
	AddCard(ctx context.Context, actor, personID, uid string) (block string, err error)
	ResetPIN(ctx context.Context, actor, personID string) (newPin, block string, err error)
	Photo(ctx context.Context, personID string) (*people.Photo, error)
	SetPhoto(ctx context.Context, actor, personID string, data []byte, declared string) (*people.Photo, error)
	DeletePhoto(ctx context.Context, actor, personID string) error

	Contacts(ctx context.Context, personID string) ([]people.Contact, error)
	Contact(ctx context.Context, id string) (*people.Contact, error)
	AddContact(ctx context.Context, actor, personID string, in people.NewContact) (*people.Contact, string, error)
	DecideContact(ctx context.Context, by people.Decider, contactID, status, reason string) (*people.Contact, string, error)
	LiftSelfBlock(ctx context.Context, actor, contactID, reason string) (*people.Contact, string, error)

	Rules(ctx context.Context, block string) ([]wire.CallRule, error)
	PutRule(ctx context.Context, actor, block string, r wire.CallRule) error
	DeleteRule(ctx context.Context, actor, block, level string) error
	BlockWindows(ctx context.Context, block string) ([]wire.Window, error)
	SetBlockWindows(ctx context.Context, actor, block string, ws []wire.Window) error
	GlobalNumbers(ctx context.Context) ([]people.GlobalNumber, error)
	AddGlobalNumber(ctx context.Context, actor, number, kind, note string) (*people.GlobalNumber, []string, error)
	RemoveGlobalNumber(ctx context.Context, actor, number, kind, note string) ([]string, error)
	Settings(ctx context.Context) (*people.PrisonSettings, error)
	UpdateSettings(ctx context.Context, actor string, in people.PrisonSettings) ([]string, error)
}
