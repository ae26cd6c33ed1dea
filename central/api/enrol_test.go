package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/kinline/kinline/central/store"
)

// TestEnrolAPI: system administrators enrol, move and retire appliances
// (audited, both blocks' policies republished, a retired one told to
// central and no longer enrolled); other roles cannot.
func TestEnrolAPI(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var retired []string
	a, err := New(Deps{Store: e.st, Notifier: e.n, Retired: func(id string) { mu.Lock(); retired = append(retired, id); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(a)
	t.Cleanup(e.srv.Close)
	ctx := context.Background()
	e.n.take()

	bo := e.sessionFor("officer-a", store.RoleBlockOfficer, true, "A")
	if r := e.call(bo, true, "POST", "/api/v1/appliances", map[string]string{"id": "appC", "block": "A"}, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("block officer enrols: %d", r.StatusCode)
	}
	if s := e.status("POST", "/api/v1/appliances", e.viewer, map[string]string{"id": "appC", "block": "A"}); s != http.StatusForbidden {
		t.Fatalf("viewer enrols: %d", s)
	}
	if s := e.status("POST", "/api/v1/appliances", e.admin, map[string]string{"id": "app/C", "block": "A"}); s != http.StatusUnprocessableEntity {
		t.Fatalf("bad id: %d", s)
	}
	if s := e.status("POST", "/api/v1/appliances", e.admin, map[string]string{"id": "appC", "block": "Z"}); s < 400 || s == 500 {
		t.Fatalf("unknown block: %d", s)
	}
	var out enrolmentBody
	if r := e.do("POST", "/api/v1/appliances", e.admin, map[string]string{"id": "appC", "block": "A"}, &out); r.StatusCode != http.StatusCreated || out.Block != "A" {
		t.Fatalf("enrol: %d %+v", r.StatusCode, out)
	}
	if got := e.n.take(); !slices.Equal(got, []string{"A"}) {
		t.Fatalf("enrol republished %v", got)
	}
	if s := e.status("POST", "/api/v1/appliances", e.admin, map[string]string{"id": "appC", "block": "B"}); s != http.StatusConflict {
		t.Fatalf("enrol twice: %d", s)
	}
	if r := e.call(bo, true, "PATCH", "/api/v1/appliances/appC", map[string]string{"block": "B"}, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("block officer moves: %d", r.StatusCode)
	}
	if r := e.do("PATCH", "/api/v1/appliances/appC", e.admin, map[string]string{"block": "B"}, &out); r.StatusCode != 200 || out.From != "A" || out.Block != "B" {
		t.Fatalf("move: %d %+v", r.StatusCode, out)
	}
	if got := e.n.take(); !slices.Equal(got, []string{"A", "B"}) {
		t.Fatalf("move republished %v, want both blocks", got)
	}
	if s := e.status("PATCH", "/api/v1/appliances/ghost", e.admin, map[string]string{"block": "B"}); s != http.StatusNotFound {
		t.Fatalf("move unknown: %d", s)
	}
	if r := e.call(bo, true, "POST", "/api/v1/appliances/appC/retire", nil, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("block officer retires: %d", r.StatusCode)
	}
	if r := e.do("POST", "/api/v1/appliances/appC/retire", e.admin, nil, &out); r.StatusCode != 200 || out.Retired == nil {
		t.Fatalf("retire: %d %+v", r.StatusCode, out)
	}
	mu.Lock()
	if !slices.Equal(retired, []string{"appC"}) {
		t.Fatalf("central told of %v", retired)
	}
	mu.Unlock()
	if ok, _ := e.st.ApplianceEnrolled(ctx, "appC"); ok {
		t.Fatal("retired appliance still enrolled")
	}
	if s := e.status("POST", "/api/v1/appliances/appC/retire", e.admin, nil); s != http.StatusConflict {
		t.Fatalf("retire twice: %d", s)
	}
	var list struct{ Appliances []applianceOut }
	e.do("GET", "/api/v1/appliances", e.admin, nil, &list)
	if i := slices.IndexFunc(list.Appliances, func(a applianceOut) bool { return a.ID == "appC" }); i < 0 || list.Appliances[i].Retired == nil {
		t.Fatalf("appliances %+v", list.Appliances)
	}
	entries, err := e.st.AuditLog(ctx, store.AuditFilter{Target: "appC"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action+" by "+en.Actor)
	}
	slices.Sort(actions)
	if len(actions) != 3 || !slices.Equal([]string{actions[0][:15], actions[1][:14], actions[2][:16]}, []string{"appliance.enrol", "appliance.move", "appliance.retire"}) {
		t.Fatalf("audit %v", actions)
	}
}

// enrolmentBody is the enrolment routes' answer as a client reads it.
type enrolmentBody struct {
	ID, Block, From string
	Retired         *string
}
