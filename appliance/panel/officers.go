package panel

import (
	"github.com/kinline/kinline/shared/policy"
	"github.com/kinline/kinline/shared/wire"
)

// OfficersFromPolicy returns a lookup for SetOfficers: a card UID (any case)
// maps to the id of the active officer holding it. People who are not
// officers, and officers who are not active, are unknown. A nil policy knows
// nobody.
func OfficersFromPolicy(p *wire.Policy) func(uid string) (officerID string, ok bool) {
	cards := map[string]string{}
	if p != nil {
		for _, person := range p.People {
			if !person.Officer || person.Status != wire.StatusActive {
				continue
			}
			for _, c := range person.Cards {
				cards[policy.NormalizeUID(c)] = person.ID
			}
		}
	}
	return func(uid string) (string, bool) {
		id, ok := cards[policy.NormalizeUID(uid)]
		return id, ok
	}
}
