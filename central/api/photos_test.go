package api

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/ingest/policysnap"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
)

// imageFile is a w x h PNG (or JPEG) with some detail.
func imageFile(t *testing.T, w, h int, asJPEG bool) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x * 3), uint8(y * 7), uint8(x * y), 255})
		}
	}
	var b bytes.Buffer
	var err error
	if asJPEG {
		err = jpeg.Encode(&b, m, nil)
	} else {
		err = png.Encode(&b, m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// raw sends body with contentType, as a bearer token or a session (with
// its CSRF header), and returns the answer and its body.
func (e *env) raw(method, path, token string, se *session, contentType string, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if se != nil {
		req.AddCookie(&http.Cookie{Name: authz.SessionCookie, Value: se.id})
		req.Header.Set(CSRFHeader, se.csrf)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func TestPhotoAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pa, _ := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "A1", Name: "Ann", Block: "A"})
	pb, _ := people.New(e.st).CreatePerson(ctx, "test", people.NewPerson{PrisonNumber: "B1", Name: "Bob", Block: "B"})
	e.n.take()
	url := "/api/v1/inmates/" + pa.ID + "/photo"

	if r, _ := e.raw("GET", url, e.admin, nil, "", nil); r.StatusCode != 404 {
		t.Fatalf("no photo yet: %d", r.StatusCode)
	}
	pic := imageFile(t, 90, 120, false)
	r, body := e.raw("PUT", url, e.admin, nil, "image/png", pic)
	var ph people.Photo
	if r.StatusCode != 200 || json.Unmarshal(body, &ph) != nil || ph.ContentType != "image/png" || ph.Width != 90 || ph.Height != 120 ||
		ph.Bytes != len(pic) || len(ph.SHA256) != 64 || ph.UpdatedBy != "token:admin" {
		t.Fatalf("put: %d %s", r.StatusCode, body)
	}
	if strings.Contains(string(body), `"data"`) {
		t.Fatal("the answer carries the image")
	}
	r, got := e.raw("GET", url, e.viewer, nil, "", nil)
	if r.StatusCode != 200 || !bytes.Equal(got, pic) || r.Header.Get("Content-Type") != "image/png" ||
		r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
		t.Fatalf("get: %d %v", r.StatusCode, r.Header)
	}
	if n := e.n.take(); len(n) != 0 {
		t.Fatalf("a photo republished policies %v (photos stay at central)", n)
	}
	var p people.Person
	if e.do("GET", "/api/v1/inmates/"+pa.ID, e.admin, nil, &p); !p.HasPhoto {
		t.Fatal("person without has_photo")
	}

	// Refusals say why, with the status that fits, and keep the photo.
	var gifHeader = []byte("GIF89a\x10\x00\x10\x00\x80\x00\x00")
	for _, c := range []struct {
		name, ct string
		body     []byte
		want     int
		msg      string
	}{
		{"html", "text/html", []byte("<script>alert(1)</script>"), 415, "image/jpeg or image/png"},
		{"no type", "", pic, 415, "image/jpeg or image/png"},
		{"png sent as jpeg", "image/jpeg", pic, 415, "declared image/jpeg but the file is image/png"},
		{"gif sent as png", "image/png", gifHeader, 415, "not a JPEG or PNG"},
		{"too big", "image/png", append(append([]byte{}, pic...), make([]byte, people.MaxPhotoBytes)...), 413, "at most"},
		{"too small", "image/png", imageFile(t, 10, 10, false), 422, "10x10 pixels"},
		{"truncated", "image/png", pic[:len(pic)/2], 422, "damaged"},
	} {
		r, body := e.raw("PUT", url, e.admin, nil, c.ct, c.body)
		var eb struct{ Error string }
		json.Unmarshal(body, &eb)
		if r.StatusCode != c.want || !strings.Contains(eb.Error, c.msg) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, r.StatusCode, eb.Error, c.want, c.msg)
		}
	}
	if _, got := e.raw("GET", url, e.admin, nil, "", nil); !bytes.Equal(got, pic) {
		t.Fatal("a refused upload changed the photo")
	}

	// Block officers: their blocks only; investigators read, never write.
	amy := e.sessionFor("amy", store.RoleBlockOfficer, false, "B")
	ivy := e.sessionFor("ivy", store.RoleInvestigator, true)
	jp := imageFile(t, 64, 64, true)
	for _, c := range []struct {
		se           *session
		method, path string
		want         int
	}{
		{&amy, "GET", url, 403},
		{&amy, "PUT", url, 403},
		{&amy, "DELETE", url, 403},
		{&amy, "PUT", "/api/v1/inmates/" + pb.ID + "/photo", 200},
		{&amy, "GET", "/api/v1/inmates/" + pb.ID + "/photo", 200},
		{&ivy, "GET", url, 200},
		{&ivy, "PUT", url, 403},
		{&ivy, "DELETE", url, 403},
	} {
		if r, _ := e.raw(c.method, c.path, "", c.se, "image/jpeg", jp); r.StatusCode != c.want {
			t.Errorf("%s %s %s: %d, want %d", c.se.user.Username, c.method, c.path, r.StatusCode, c.want)
		}
	}
	if r, got := e.raw("GET", "/api/v1/inmates/"+pb.ID+"/photo", e.admin, nil, "", nil); !bytes.Equal(got, jp) || r.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatal("officer's upload not stored as a JPEG")
	}

	if r, _ := e.raw("DELETE", url, e.admin, nil, "", nil); r.StatusCode != 204 {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if r, _ := e.raw("GET", url, e.admin, nil, "", nil); r.StatusCode != 404 {
		t.Fatalf("get after delete: %d", r.StatusCode)
	}
	if r, _ := e.raw("DELETE", url, e.admin, nil, "", nil); r.StatusCode != 404 {
		t.Fatalf("delete again: %d", r.StatusCode)
	}
	var acts []string
	log, _ := e.st.AuditLog(ctx, store.AuditFilter{})
	for i := len(log) - 1; i >= 0; i-- {
		if strings.HasPrefix(log[i].Action, "inmate.photo") {
			acts = append(acts, log[i].Actor+" "+log[i].Action+" "+log[i].Target)
		}
	}
	want := []string{"token:admin inmate.photo_set " + pa.ID, "user:amy inmate.photo_set " + pb.ID, "token:admin inmate.photo_delete " + pa.ID}
	if strings.Join(acts, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit:\n%s", strings.Join(acts, "\n"))
	}
}

// TestPersonQuotasAPI: a person's own calls per day, week and month are
// set on enrolment and by PATCH, shown, validated and carried in the
// block's policy, which is republished.
func TestPersonQuotasAPI(t *testing.T) {
	e := newEnv(t)
	var p people.Person
	if r := e.do("POST", "/api/v1/inmates", e.admin, map[string]any{"prison_number": "A1", "name": "Ann", "block": "A", "calls_per_day": 4}, &p); r.StatusCode != 201 ||
		p.CallsPerDay != 4 || p.CallsPerWeek != 0 {
		t.Fatalf("create: %d %+v", r.StatusCode, p)
	}
	e.n.take()
	if r := e.do("PATCH", "/api/v1/inmates/"+p.ID, e.admin, map[string]any{"calls_per_week": 12, "calls_per_month": 40}, &p); r.StatusCode != 200 ||
		p.CallsPerDay != 4 || p.CallsPerWeek != 12 || p.CallsPerMonth != 40 {
		t.Fatalf("patch: %d %+v", r.StatusCode, p)
	}
	if n := e.n.take(); len(n) != 1 || n[0] != "A" {
		t.Fatalf("notified %v", n)
	}
	var eb struct{ Error string }
	if r := e.do("PATCH", "/api/v1/inmates/"+p.ID, e.admin, map[string]any{"calls_per_day": people.MaxCallsPerPeriod + 1}, &eb); r.StatusCode != 422 ||
		!strings.Contains(eb.Error, "calls_per_day") {
		t.Fatalf("too many: %d %q", r.StatusCode, eb.Error)
	}
	pol, err := policysnap.New(e.st).PolicyFor(context.Background(), "appA")
	if err != nil {
		t.Fatal(err)
	}
	if len(pol.People) != 1 || pol.People[0].CallsPerDay != 4 || pol.People[0].CallsPerWeek != 12 || pol.People[0].CallsPerMonth != 40 {
		t.Fatalf("policy people %+v", pol.People)
	}
}
