package web

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/ingest/policysnap"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/shared/wire"
)

func pngFile(t *testing.T, w, h int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x * 5), uint8(y * 3), 99, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// uploadPhoto posts a file as the person page's photo form does (csrf ""
// takes the page's token).
func (e *manageEnv) uploadPhoto(c *http.Client, personID, csrf, name string, data []byte) (*http.Response, string) {
	e.t.Helper()
	if csrf == "" {
		_, page := get(e.t, c, e.srv.URL+"/people/"+personID)
		csrf = csrfOf(e.t, page)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("photo", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+"/people/"+personID+"/photo", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestConsolePersonPhoto(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	admin := e.signIn("ada", store.RoleSystemAdmin)
	ann := e.person("A100")
	page := "/people/" + ann.ID
	_, body := get(t, admin, e.srv.URL+page)
	if strings.Contains(body, `id="photo"`) || !strings.Contains(body, `enctype="multipart/form-data"`) || !strings.Contains(body, "at most 2 MiB") {
		t.Fatalf("page before a photo: %s", body)
	}
	pic := pngFile(t, 40, 50)
	if resp, _ := e.uploadPhoto(admin, ann.ID, strings.Repeat("0", 64), "ann.png", pic); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("upload without the CSRF token: %d", resp.StatusCode)
	}
	resp, _ := e.uploadPhoto(admin, ann.ID, "", "ann.jpg", pic) // the name says JPEG; the file is a PNG
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), page+"?notice=") {
		t.Fatalf("upload: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = get(t, admin, e.srv.URL+page)
	if !strings.Contains(body, `<img id="photo" src="`+page+`/photo"`) || !strings.Contains(body, "Remove photo") {
		t.Fatalf("page with a photo: %s", body)
	}
	resp, got := get(t, admin, e.srv.URL+page+"/photo")
	if resp.StatusCode != 200 || got != string(pic) || resp.Header.Get("Content-Type") != "image/png" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Security-Policy") != "default-src 'none'; sandbox" ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
		t.Fatalf("photo: %d %v", resp.StatusCode, resp.Header)
	}

	// Refused uploads say why on the page and keep the photo.
	for _, c := range []struct {
		name string
		data []byte
		want int
		msg  string
	}{
		{"x.html", []byte("<html><script>alert(1)</script></html>"), http.StatusUnsupportedMediaType, "not a JPEG or PNG image"},
		{"big.png", append(append([]byte{}, pic...), make([]byte, people.MaxPhotoBytes)...), http.StatusRequestEntityTooLarge, "at most 2097152 (2 MiB)"},
		{"huge.png", make([]byte, 3*people.MaxPhotoBytes), http.StatusRequestEntityTooLarge, "larger than 2 MiB"},
		{"tiny.png", pngFile(t, 4, 4), http.StatusUnprocessableEntity, "4x4 pixels"},
	} {
		resp, body := e.uploadPhoto(admin, ann.ID, "", c.name, c.data)
		if resp.StatusCode != c.want || !strings.Contains(body, c.msg) || !strings.Contains(body, `role="alert"`) {
			t.Errorf("%s: %d, want %d with %q", c.name, resp.StatusCode, c.want, c.msg)
		}
	}
	if ph, err := people.New(e.st).Photo(ctx, ann.ID); err != nil || !bytes.Equal(ph.Data, pic) {
		t.Fatalf("photo after refusals: %v", err)
	}

	// Another block's officer sees nothing and changes nothing; a
	// read-only user sees it but has no upload form.
	olga := e.signIn("olga", store.RoleBlockOfficer, "B")
	if resp, _ := get(t, olga, e.srv.URL+page+"/photo"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("other block's photo: %d", resp.StatusCode)
	}
	_, opage := get(t, olga, e.srv.URL+"/people")
	if resp, _ := e.uploadPhoto(olga, ann.ID, csrfOf(t, opage), "o.png", pngFile(t, 20, 20)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("other block's upload: %d", resp.StatusCode)
	}
	rita := e.signIn("rita", store.RoleReadOnly)
	if resp, got := get(t, rita, e.srv.URL+page+"/photo"); resp.StatusCode != 200 || got != string(pic) {
		t.Fatalf("read-only photo: %d", resp.StatusCode)
	}
	if _, body := get(t, rita, e.srv.URL+page); strings.Contains(body, `action="`+page+`/photo"`) {
		t.Fatal("read-only user gets the upload form")
	}

	if resp, body := e.post(admin, page, page+"/photo/delete", url.Values{}); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Remove this person") {
		t.Fatalf("remove without confirmation: %d", resp.StatusCode)
	}
	if resp, _ := get(t, admin, e.srv.URL+page+"/photo"); resp.StatusCode != http.StatusOK {
		t.Fatalf("photo removed without confirmation: %d", resp.StatusCode)
	}
	resp, _ = e.post(admin, page, page+"/photo/delete", url.Values{"confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
	if resp, _ := get(t, admin, e.srv.URL+page+"/photo"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("photo after removal: %d", resp.StatusCode)
	}
	log, _ := e.st.AuditLog(ctx, store.AuditFilter{Target: ann.ID})
	var acts []string
	for i := len(log) - 1; i >= 0; i-- {
		if strings.HasPrefix(log[i].Action, "inmate.photo") {
			acts = append(acts, log[i].Actor+" "+log[i].Action)
		}
	}
	if strings.Join(acts, ", ") != "user:ada inmate.photo_set, user:ada inmate.photo_delete" {
		t.Fatalf("audit %v", acts)
	}
	if n := e.n.take(); len(n) != 0 {
		t.Fatalf("photos republished policies: %v", n)
	}
}

// TestConsolePersonQuotasAndConfirmation: the person page edits the
// person's own calls per day, week and month and their officer
// confirmation, shows them beside the rule they override, and a form
// without those fields leaves them as they are.
func TestConsolePersonQuotasAndConfirmation(t *testing.T) {
	e := newManageEnv(t)
	ctx := context.Background()
	if err := people.New(e.st).SetRules(ctx, "test", "A", []wire.CallRule{{Level: "", Confirm: wire.ConfirmButton, CallsPerDay: 3, CallsPerWeek: 10}}); err != nil {
		t.Fatal(err)
	}
	admin := e.signIn("ada", store.RoleSystemAdmin)
	ann := e.person("A100")
	page := "/people/" + ann.ID
	_, body := get(t, admin, e.srv.URL+page)
	if !strings.Contains(body, "the block's default rule: confirmation button; calls per day 3, week 10, month no limit") ||
		!strings.Contains(body, "confirmation the rule&#39;s; calls per day the rule&#39;s") || !strings.Contains(body, `<option value="card">card</option>`) {
		t.Fatalf("person page: %s", body)
	}
	e.n.take()
	form := url.Values{"name": {ann.Name}, "block": {"A"}, "status": {"active"}, "confirm": {"card"}, "confirm_window_seconds": {"90"},
		"calls_per_day": {"5"}, "calls_per_week": {""}, "calls_per_month": {"40"}}
	if resp, body := e.post(admin, page, page, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d %s", resp.StatusCode, body)
	}
	p := e.person("A100")
	if p.Confirm != wire.ConfirmCard || p.ConfirmWindowSeconds != 90 || p.CallsPerDay != 5 || p.CallsPerWeek != 0 || p.CallsPerMonth != 40 {
		t.Fatalf("saved %+v", p)
	}
	if n := e.n.take(); len(n) != 1 || n[0] != "A" {
		t.Fatalf("notified %v", n)
	}
	_, body = get(t, admin, e.srv.URL+page)
	if !strings.Contains(body, "confirmation card within 90 s; calls per day 5, week the rule&#39;s, month 40") || !strings.Contains(body, `<option value="card" selected>`) {
		t.Fatalf("page after save: %s", body)
	}
	pol, err := policysnap.New(e.st).PolicyFor(ctx, "appA")
	if err != nil || len(pol.People) != 1 || pol.People[0].CallsPerDay != 5 || pol.People[0].CallsPerMonth != 40 || pol.People[0].Confirm != wire.ConfirmCard {
		t.Fatalf("policy %+v %v", pol, err)
	}
	// A form without the fields (as before they existed) keeps them.
	if resp, _ := e.post(admin, page, page, url.Values{"name": {"Ann Lee"}, "block": {"A"}, "status": {"active"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("old form: %d", resp.StatusCode)
	}
	if p := e.person("A100"); p.Name != "Ann Lee" || p.Confirm != wire.ConfirmCard || p.CallsPerDay != 5 || p.CallsPerMonth != 40 {
		t.Fatalf("old form changed the overrides: %+v", p)
	}
	// Bad numbers are refused with the field named; "" is the rule's again.
	form.Set("calls_per_day", "lots")
	if resp, body := e.post(admin, page, page, form); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "calls_per_day") {
		t.Fatalf("bad number: %d", resp.StatusCode)
	}
	form.Set("calls_per_day", "")
	form.Set("confirm", "")
	if resp, _ := e.post(admin, page, page, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("back to the rule's: %d", resp.StatusCode)
	}
	if p := e.person("A100"); p.CallsPerDay != 0 || p.Confirm != wire.ConfirmInherit || p.CallsPerMonth != 40 {
		t.Fatalf("reset %+v", p)
	}
}
