package authz

// Identity returns the name of the person with id personID and the
// prison's name, as the current policy has them ("" for what is not
// known), for the called party's announcement.
func (a *Authorizer) Identity(personID string) (name, prison string) {
	ix := a.index.Load()
	if ix == nil {
		return "", ""
	}
	if ix.Policy != nil {
		prison = ix.Policy.Prison
	}
	if p := ix.PersonByID(personID); p != nil {
		name = p.Name
	}
	return name, prison
}
