package web

// The management pages: people (search, create, edit, cards, PIN reset,
// windows, durations, quotas and officer confirmation overriding their
// rule's, suspension, photo), their contacts and the approval
// workflow (and lifting a contact's self-block), the global numbers list, blocks with their call rules,
// windows, appliances and terminals, the prison's settings, and batch
// import (a background job the page follows through a JSON progress
// endpoint, polled by a small script served from the embedded files:
// the CSP allows no inline script) and exports.

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/photo"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/people"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/tables"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/format"
	"github.com/kinline/kinline/central/web/importjob"
	"github.com/kinline/kinline/central/web/page"
	"github.com/kinline/kinline/central/web/signin"
	"github.com/kinline/kinline/shared/wire"
)

//go:embed templates/manage_import.js
var manageStatic embed.FS

// managePages are the console's pages for people, contacts and their approval, global numbers, rules, blocks, appliances, import and export.
func (s *Server) managePages() map[string]page.Handler {
	return map[string]page.Handler{
		"GET /people":                      s.peoplePage,
		"POST /people":                     s.createPersonForm,
		"GET /people/{id}":                 s.personPage,
		"POST /people/{id}":                s.editPersonForm,
		"POST /people/{id}/cards":          s.addCardForm,
		"POST /people/{id}/pin":            s.resetPINForm,
		"GET /people/{id}/photo":           s.photo,
		"POST /people/{id}/photo":          s.photoForm,
		"POST /people/{id}/photo/delete":   s.deletePhotoForm,
		"POST /people/{id}/contacts":       s.addContactForm,
		"POST /contacts/{id}/decision":     s.decideContactForm,
		"POST /contacts/{id}/unblock":      s.unblockContactForm,
		"GET /numbers":                     s.numbersPage,
		"POST /numbers":                    s.addNumberForm,
		"POST /numbers/remove":             s.removeNumberForm,
		"GET /blocks":                      s.blocksPage,
		"POST /blocks":                     s.createBlockForm,
		"POST /blocks/{name}/rules":        s.putRuleForm,
		"POST /blocks/{name}/rules/delete": s.deleteRuleForm,
		"POST /blocks/{name}/windows":      s.blockWindowsForm,
		"GET /settings":                    s.settingsPage,
		"POST /settings":                   s.settingsForm,
		"GET /import":                      s.importPage,
		"POST /import":                     s.importForm,
		"GET /import/jobs/{job}":           s.importJob,
		"GET /import/template/{file}":      s.importTemplate,
		"GET /export":                      s.exportPage,
		"GET /export/{file}":               s.exportFile,
		"GET /static/manage_import.js":     s.importScript,
	}
}

// peopleView is the data of manage_people.html.
type peopleView struct {
	page.Layout
	CanEdit          bool
	Q, Block, Status string
	People           []people.Person
	page.Pager
	Statuses []string
	Blocks   []string // the caller's
}

// personView is the data of manage_person.html.
type personView struct {
	page.Layout
	CanEdit      bool
	Person       *people.Person
	PersonWin    string
	SuspendUntil string
	Contacts     []people.Contact
	NewPIN       string
	MaxContacts  int
	// PersonRule is the block's rule for the person's level (or its
	// default rule) that their own settings override; nil when none.
	PersonRule *wire.CallRule
	// MaxPhotoMiB is the photo size limit, for the upload form.
	MaxPhotoMiB int
	Statuses    []string
	Confirms    []string
	Blocks      []string // the caller's
}

// numbersView is the data of manage_numbers.html.
type numbersView struct {
	page.Layout
	IsAdmin bool
	Numbers []people.GlobalNumber
	Kinds   []string
}

// blocksView is the data of manage_blocks.html.
type blocksView struct {
	page.Layout
	IsAdmin    bool
	Blocks     []blockRow
	Appliances []store.Appliance
	Terminals  []store.Terminal
	Confirms   []string
}

type blockRow struct {
	Name          string
	PolicyVersion uint64
	Windows       string
	Rules         []ruleRow
}

type ruleRow struct {
	wire.CallRule
	WindowsText string
}

// settingsView is the data of manage_settings.html.
type settingsView struct {
	page.Layout
	IsAdmin  bool
	Settings *people.PrisonSettings
}

// importView is the data of manage_import.html: the upload form and the
// job it follows.
type importView struct {
	page.Layout
	Job *importjob.View
}

// exportView is the data of manage_export.html.
type exportView struct {
	page.Layout
	// NeedsMFA: the downloads need a second factor the session has not
	// verified.
	NeedsMFA bool
}

// canEdit: the session may change people (and their contacts); isAdmin:
// the prison's settings, blocks and rules.
func canEdit(se *users.Session) bool { return page.Allowed(se, "POST /people") }
func isAdmin(se *users.Session) bool { return page.Allowed(se, "POST /settings") }

// postForm checks a form post: same origin, size, CSRF token. It answers
// and returns false when the post must not be processed.
func (s *Server) postForm(w http.ResponseWriter, r *http.Request, se *users.Session) bool {
	if !signin.SameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return false
	}
	if !signin.TokensEqual(r.PostForm.Get("csrf"), se.CSRF) {
		http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
		return false
	}
	return true
}

// statusOf maps a store error to an HTTP status and a message for a page.
func (s *Server) statusOf(err error) (int, string) {
	msg := strings.NewReplacer("store: invalid input: ", "", "store: ", "", "authz: ", "").Replace(err.Error())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, msg
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, msg
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrUnknownBlock), errors.Is(err, tables.ErrBadFile):
		return http.StatusUnprocessableEntity, msg
	case errors.Is(err, authz.ErrOutOfScope), errors.Is(err, people.ErrNotAllowed), errors.Is(err, users.ErrTooStrong):
		return http.StatusForbidden, msg
	}
	s.log.Error("web: manage", "err", err)
	return http.StatusInternalServerError, "Something went wrong; try again."
}

// redirectNotice answers a successful post with a redirect to path
// carrying a short notice.
func redirectNotice(w http.ResponseWriter, r *http.Request, path, notice string) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	http.Redirect(w, r, path+sep+"notice="+url.QueryEscape(notice), http.StatusSeeOther)
}

// PolicyNotifier is told after a console change that may alter a block's
// policy (package api's notifier republishes it).
type PolicyNotifier interface {
	PolicyChanged(ctx context.Context, block string)
}

// SetNotifier makes the console tell n about every management change that
// may alter a block's policy, as the JSON API does (nil stops it). It
// replaces Config.Notifier.
func (s *Server) SetNotifier(n PolicyNotifier) {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	s.notifier = n
}

func (s *Server) notifyBlocks(ctx context.Context, blocks ...string) {
	s.notifyMu.Lock()
	n := s.notifier
	s.notifyMu.Unlock()
	if n == nil {
		return
	}
	seen := map[string]bool{}
	for _, b := range blocks {
		if b != "" && !seen[b] {
			seen[b] = true
			n.PolicyChanged(ctx, b)
		}
	}
}

// ---- people ----

const peoplePageSize = 50

func (s *Server) peoplePage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderPeople(w, r, se, http.StatusOK, "")
}

func (s *Server) renderPeople(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg string) {
	q := r.URL.Query()
	c := CallerOf(se)
	p := &peopleView{Layout: page.For(se, "People").WithNotice(r), CanEdit: canEdit(se)}
	p.Error = errMsg
	p.Q, p.Block, p.Status = q.Get("q"), q.Get("block"), q.Get("status")
	p.Statuses = []string{wire.StatusActive, wire.StatusSuspended, wire.StatusReleased}
	off, _ := strconv.Atoi(q.Get("offset"))
	off = max(off, 0)
	if p.Block != "" {
		if err := c.CheckBlock(p.Block); err != nil {
			s.forbidden(w, r, se, err)
			return
		}
	}
	var err error
	p.People, err = s.people.People(r.Context(), people.PeopleFilter{Query: p.Q, Block: p.Block, Status: p.Status, Blocks: c.ScopeBlocks(),
		Limit: peoplePageSize + 1, Offset: off})
	if err == nil {
		err = s.st.Audit(r.Context(), se.Actor, "inmates.search", "console", q.Encode())
	}
	if err == nil {
		var bs []store.Block
		bs, err = s.st.Blocks(r.Context())
		for _, b := range bs {
			if c.InScope(b.Name) {
				p.Blocks = append(p.Blocks, b.Name)
			}
		}
	}
	if err != nil {
		st, msg := s.statusOf(err)
		p.Error = msg
		s.render(w, st, "manage_people.html", p)
		return
	}
	p.People, p.Pager = page.Paginate(p.People, off, peoplePageSize, "/people", url.Values{"q": {p.Q}, "block": {p.Block}, "status": {p.Status}})
	s.render(w, status, "manage_people.html", p)
}

func (s *Server) createPersonForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	f := r.PostForm
	c := CallerOf(se)
	if err := c.CheckBlock(f.Get("block")); err != nil {
		s.forbidden(w, r, se, err)
		return
	}
	np := people.NewPerson{PrisonNumber: f.Get("prison_number"), Name: f.Get("name"), Block: f.Get("block"),
		SupervisionLevel: f.Get("supervision_level"), Language: f.Get("language"), PIN: f.Get("pin")}
	if card := strings.TrimSpace(f.Get("card")); card != "" {
		np.Cards = []string{card}
	}
	p, err := s.people.CreatePerson(r.Context(), se.Actor, np)
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderPeople(w, r, se, st, msg)
		return
	}
	s.notifyBlocks(r.Context(), p.Block)
	redirectNotice(w, r, "/people/"+p.ID, "Person created.")
}

// scopedPerson loads the page's person, refusing another block's.
func (s *Server) scopedPerson(w http.ResponseWriter, r *http.Request, se *users.Session, id string) *people.Person {
	p, err := s.people.Person(r.Context(), id)
	if err == nil {
		err = CallerOf(se).CheckBlock(p.Block)
	}
	if err != nil {
		st, msg := s.statusOf(err)
		if st == http.StatusForbidden {
			msg = page.ForbiddenText(err)
		}
		http.Error(w, msg, st)
		return nil
	}
	return p
}

func (s *Server) personPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderPerson(w, r, se, r.PathValue("id"), http.StatusOK, "", "")
}

func (s *Server) renderPerson(w http.ResponseWriter, r *http.Request, se *users.Session, id string, status int, errMsg, newPIN string) {
	person := s.scopedPerson(w, r, se, id)
	if person == nil {
		return
	}
	p := &personView{Layout: page.For(se, "Person "+person.PrisonNumber).WithNotice(r), CanEdit: canEdit(se), Person: person, NewPIN: newPIN}
	p.Error = errMsg
	p.PersonWin = people.FormatWindows(person.Windows)
	if person.SuspendedUntil != nil {
		p.SuspendUntil = person.SuspendedUntil.Format("2006-01-02")
	}
	p.Statuses = []string{wire.StatusActive, wire.StatusSuspended, wire.StatusReleased}
	p.Confirms = []string{wire.ConfirmInherit, wire.ConfirmNone, wire.ConfirmButton, wire.ConfirmCard, wire.ConfirmBoth}
	p.MaxPhotoMiB = people.MaxPhotoBytes >> 20
	err := func() error {
		rules, err := s.people.Rules(r.Context(), person.Block)
		if err != nil {
			return err
		}
		p.PersonRule = ruleFor(rules, person.SupervisionLevel)
		if p.Contacts, err = s.people.Contacts(r.Context(), person.ID); err != nil {
			return err
		}
		set, err := s.people.Settings(r.Context())
		if err != nil {
			return err
		}
		p.MaxContacts = set.MaxContacts
		return nil
	}()
	if err != nil {
		st, msg := s.statusOf(err)
		p.Error = msg
		status = st
	}
	if bs, err := s.st.Blocks(r.Context()); err == nil {
		c := CallerOf(se)
		for _, b := range bs {
			if c.InScope(b.Name) {
				p.Blocks = append(p.Blocks, b.Name)
			}
		}
	}
	s.render(w, status, "manage_person.html", p)
}

func (s *Server) editPersonForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	id := r.PathValue("id")
	if s.scopedPerson(w, r, se, id) == nil {
		return
	}
	f := r.PostForm
	fail := func(err error) {
		st, msg := s.statusOf(err)
		s.renderPerson(w, r, se, id, st, msg, "")
	}
	if err := CallerOf(se).CheckBlock(f.Get("block")); err != nil {
		s.forbidden(w, r, se, err)
		return
	}
	name, block, level, lang, status, reason := f.Get("name"), f.Get("block"), f.Get("supervision_level"), f.Get("language"), f.Get("status"), strings.TrimSpace(f.Get("status_reason"))
	if status == wire.StatusSuspended && reason == "" {
		fail(fmt.Errorf("%w: a suspension needs a reason", store.ErrInvalid))
		return
	}
	ws, err := people.ParseWindows(f.Get("windows"))
	if err != nil {
		fail(err)
		return
	}
	maxDur, err := format.OptInt(f.Get("max_duration_seconds"))
	if err != nil {
		fail(err)
		return
	}
	until, err := format.OptDate(f.Get("suspended_until"))
	if err != nil {
		fail(err)
		return
	}
	up := people.PersonUpdate{Name: &name, Block: &block, SupervisionLevel: &level, Language: &lang, Status: &status,
		StatusReason: &reason, Windows: &ws, MaxDurationSeconds: &maxDur}
	if status == wire.StatusSuspended {
		up.SuspendedUntil = &until
	}
	// The officer confirmation and quota overrides change only when the
	// form has them (a form from before they existed keeps them).
	if f.Has("confirm") {
		c := f.Get("confirm")
		up.Confirm = &c
	}
	var errs []error
	for field, dst := range map[string]**int{"confirm_window_seconds": &up.ConfirmWindowSeconds,
		"calls_per_day": &up.CallsPerDay, "calls_per_week": &up.CallsPerWeek, "calls_per_month": &up.CallsPerMonth} {
		if !f.Has(field) {
			continue
		}
		n, err := format.OptInt(f.Get(field))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		*dst = &n
	}
	if err := errors.Join(errs...); err != nil {
		fail(err)
		return
	}
	_, blocks, err := s.people.UpdatePerson(r.Context(), se.Actor, id, up)
	if err != nil {
		fail(err)
		return
	}
	s.notifyBlocks(r.Context(), blocks...)
	redirectNotice(w, r, "/people/"+id, "Saved.")
}

// ruleFor is the rule of level among rules, else the default rule (level
// ""), as the appliance picks it; nil when neither exists.
func ruleFor(rules []wire.CallRule, level string) *wire.CallRule {
	var def *wire.CallRule
	for i := range rules {
		switch rules[i].Level {
		case level:
			return &rules[i]
		case "":
			def = &rules[i]
		}
	}
	return def
}

// WritePhoto answers a person's photo (package photo: the JSON API serves
// it the same way).
func WritePhoto(w http.ResponseWriter, ph *people.Photo) { photo.Write(w, ph.ContentType, ph.Data) }

// photo serves the person's photo to the person page (404 when none).
func (s *Server) photo(w http.ResponseWriter, r *http.Request, se *users.Session) {
	person := s.scopedPerson(w, r, se, r.PathValue("id"))
	if person == nil {
		return
	}
	ph, err := s.people.Photo(r.Context(), person.ID)
	if err != nil {
		st, msg := s.statusOf(err)
		http.Error(w, msg, st)
		return
	}
	WritePhoto(w, ph)
}

// photoForm takes a photo uploaded from the person page (a multipart form
// with the file as "photo"): 413 beyond people.MaxPhotoBytes, 415 for
// anything but a JPEG or PNG image, 422 for dimensions out of bounds or
// a damaged image, each with the page and the reason.
func (s *Server) photoForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !signin.SameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return
	}
	id := r.PathValue("id")
	if s.scopedPerson(w, r, se, id) == nil {
		return
	}
	const formMax = people.MaxPhotoBytes + 64<<10 // the file and the form around it
	r.Body = http.MaxBytesReader(w, r.Body, formMax)
	if err := r.ParseMultipartForm(formMax); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			s.renderPerson(w, r, se, id, http.StatusRequestEntityTooLarge, fmt.Sprintf("The photo is larger than %d MiB: choose a smaller one.", people.MaxPhotoBytes>>20), "")
			return
		}
		http.Error(w, "the form could not be read (send it as multipart/form-data)", http.StatusBadRequest)
		return
	}
	defer r.MultipartForm.RemoveAll()
	if !signin.TokensEqual(r.PostForm.Get("csrf"), se.CSRF) {
		http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
		return
	}
	file, _, err := r.FormFile("photo")
	if err != nil {
		s.renderPerson(w, r, se, id, http.StatusUnprocessableEntity, "Choose a JPEG or PNG photo to upload.", "")
		return
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, people.MaxPhotoBytes+1))
	if err == nil {
		// The type is the image's own: a browser names it from the file's
		// extension.
		_, err = s.people.SetPhoto(r.Context(), se.Actor, id, data, "")
	}
	if err != nil {
		st, msg := s.statusOf(err)
		switch {
		case errors.Is(err, people.ErrPhotoTooLarge):
			st = http.StatusRequestEntityTooLarge
		case errors.Is(err, people.ErrPhotoType):
			st = http.StatusUnsupportedMediaType
		}
		s.renderPerson(w, r, se, id, st, msg, "")
		return
	}
	redirectNotice(w, r, "/people/"+id, "Photo saved.")
}

// personAction runs one console post on person {id}: the form and its
// CSRF token, the block officer's scope, then do. A store error shows the
// person's page again with it; on success the blocks do names get their
// policy and the browser goes back to the page with notice.
func (s *Server) personAction(w http.ResponseWriter, r *http.Request, se *users.Session, notice string, do func(ctx context.Context, id string) (blocks []string, err error)) {
	if !s.postForm(w, r, se) {
		return
	}
	id := r.PathValue("id")
	if s.scopedPerson(w, r, se, id) == nil {
		return
	}
	blocks, err := do(r.Context(), id)
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderPerson(w, r, se, id, st, msg, "")
		return
	}
	if len(blocks) > 0 {
		s.notifyBlocks(r.Context(), blocks...)
	}
	redirectNotice(w, r, "/people/"+id, notice)
}

func (s *Server) deletePhotoForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.personAction(w, r, se, "Photo removed.", func(ctx context.Context, id string) ([]string, error) {
		return nil, s.people.DeletePhoto(ctx, se.Actor, id) // a photo is not in the policy
	})
}

func (s *Server) addCardForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.personAction(w, r, se, "Card assigned.", func(ctx context.Context, id string) ([]string, error) {
		block, err := s.people.AddCard(ctx, se.Actor, id, r.PostForm.Get("uid"))
		return []string{block}, err
	})
}

// resetPINForm shows the new PIN once, on the answer to the post itself
// (never in a URL, never stored).
func (s *Server) resetPINForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	id := r.PathValue("id")
	if s.scopedPerson(w, r, se, id) == nil {
		return
	}
	pin, block, err := s.people.ResetPIN(r.Context(), se.Actor, id)
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderPerson(w, r, se, id, st, msg, "")
		return
	}
	s.notifyBlocks(r.Context(), block)
	s.renderPerson(w, r, se, id, http.StatusOK, "", pin)
}

func (s *Server) addContactForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.personAction(w, r, se, "Contact requested: it needs approval before it can be called.", func(ctx context.Context, id string) ([]string, error) {
		f := r.PostForm
		_, block, err := s.people.AddContact(ctx, se.Actor, id, people.NewContact{Number: f.Get("number"), Name: f.Get("name"),
			Relationship: f.Get("relationship"), Identity: f.Get("identity"), Privileged: f.Get("privileged") == "on", Status: people.ContactRequested})
		return []string{block}, err
	})
}

func (s *Server) decideContactForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	ct, err := s.people.Contact(r.Context(), r.PathValue("id"))
	if err != nil {
		st, msg := s.statusOf(err)
		http.Error(w, msg, st)
		return
	}
	if s.scopedPerson(w, r, se, ct.PersonID) == nil {
		return
	}
	c := CallerOf(se)
	_, block, err := s.people.DecideContact(r.Context(), people.Decider{Actor: se.Actor, Role: c.Role, Blocks: c.Blocks}, ct.ID,
		r.PostForm.Get("decision"), r.PostForm.Get("reason"))
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderPerson(w, r, se, ct.PersonID, st, msg, "")
		return
	}
	s.notifyBlocks(r.Context(), block)
	redirectNotice(w, r, "/people/"+ct.PersonID, "Contact "+r.PostForm.Get("decision")+".")
}

// unblockContactForm lifts a contact's self-block (the called party had
// pressed 9), with a required reason; the number returns to the policy.
func (s *Server) unblockContactForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	ct, err := s.people.Contact(r.Context(), r.PathValue("id"))
	if err != nil {
		st, msg := s.statusOf(err)
		http.Error(w, msg, st)
		return
	}
	if s.scopedPerson(w, r, se, ct.PersonID) == nil {
		return
	}
	_, block, err := s.people.LiftSelfBlock(r.Context(), se.Actor, ct.ID, r.PostForm.Get("reason"))
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderPerson(w, r, se, ct.PersonID, st, msg, "")
		return
	}
	s.notifyBlocks(r.Context(), block)
	redirectNotice(w, r, "/people/"+ct.PersonID, "Self-block lifted: "+ct.Number+" can be called again once approved.")
}

// ---- global numbers ----

func (s *Server) numbersPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderNumbers(w, r, se, http.StatusOK, "")
}

func (s *Server) renderNumbers(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg string) {
	p := &numbersView{Layout: page.For(se, "Global numbers").WithNotice(r), IsAdmin: isAdmin(se), Kinds: people.GlobalNumberKinds}
	p.Error = errMsg
	var err error
	if p.Numbers, err = s.people.GlobalNumbers(r.Context()); err != nil {
		status, p.Error = s.statusOf(err)
	}
	s.render(w, status, "manage_numbers.html", p)
}

func (s *Server) addNumberForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	f := r.PostForm
	_, blocks, err := s.people.AddGlobalNumber(r.Context(), se.Actor, f.Get("number"), f.Get("kind"), f.Get("note"))
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderNumbers(w, r, se, st, msg)
		return
	}
	s.notifyBlocks(r.Context(), blocks...)
	redirectNotice(w, r, "/numbers", "Number added.")
}

func (s *Server) removeNumberForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	f := r.PostForm
	blocks, err := s.people.RemoveGlobalNumber(r.Context(), se.Actor, f.Get("number"), f.Get("kind"), f.Get("note"))
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderNumbers(w, r, se, st, msg)
		return
	}
	s.notifyBlocks(r.Context(), blocks...)
	redirectNotice(w, r, "/numbers", "Number removed.")
}

// ---- blocks, rules, appliances, terminals ----

func (s *Server) blocksPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderBlocks(w, r, se, http.StatusOK, "")
}

func (s *Server) renderBlocks(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg string) {
	p := &blocksView{Layout: page.For(se, "Blocks and appliances").WithNotice(r), IsAdmin: isAdmin(se),
		Confirms: []string{wire.ConfirmNone, wire.ConfirmButton, wire.ConfirmCard, wire.ConfirmBoth}}
	p.Error = errMsg
	c := CallerOf(se)
	err := func() error {
		bs, err := s.st.Blocks(r.Context())
		if err != nil {
			return err
		}
		for _, b := range bs {
			if !c.InScope(b.Name) {
				continue
			}
			v := blockRow{Name: b.Name, PolicyVersion: b.PolicyVersion}
			ws, err := s.people.BlockWindows(r.Context(), b.Name)
			if err != nil {
				return err
			}
			v.Windows = people.FormatWindows(ws)
			rules, err := s.people.Rules(r.Context(), b.Name)
			if err != nil {
				return err
			}
			for _, ru := range rules {
				v.Rules = append(v.Rules, ruleRow{CallRule: ru, WindowsText: people.FormatWindows(ru.Windows)})
			}
			p.Blocks = append(p.Blocks, v)
		}
		as, err := s.st.Appliances(r.Context())
		if err != nil {
			return err
		}
		for _, a := range as {
			if c.InScope(a.Block) {
				p.Appliances = append(p.Appliances, a)
			}
		}
		ts, err := s.st.Terminals(r.Context())
		for _, t := range ts {
			if c.InScope(t.Block) {
				p.Terminals = append(p.Terminals, t)
			}
		}
		return err
	}()
	if err != nil {
		status, p.Error = s.statusOf(err)
	}
	s.render(w, status, "manage_blocks.html", p)
}

func (s *Server) createBlockForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	if err := s.st.EnsureBlock(r.Context(), se.Actor, strings.TrimSpace(r.PostForm.Get("name"))); err != nil {
		st, msg := s.statusOf(err)
		s.renderBlocks(w, r, se, st, msg)
		return
	}
	redirectNotice(w, r, "/blocks", "Block saved.")
}

func (s *Server) putRuleForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.blockAction(w, r, se, "Rule saved for block ", func(block string) error {
		f := r.PostForm
		ru := wire.CallRule{Level: f.Get("level"), Confirm: f.Get("confirm"), OfficerTapEndsCall: f.Get("officer_tap_ends_call") == "on"}
		var errs []error
		for field, dst := range map[string]*int{"confirm_window_seconds": &ru.ConfirmWindowSeconds, "max_duration_seconds": &ru.MaxDurationSeconds,
			"calls_per_day": &ru.CallsPerDay, "calls_per_week": &ru.CallsPerWeek, "calls_per_month": &ru.CallsPerMonth} {
			n, err := format.OptInt(f.Get(field))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", field, err))
			}
			*dst = n
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		ws, err := people.ParseWindows(f.Get("windows"))
		if err != nil {
			return err
		}
		ru.Windows = ws
		return s.people.PutRule(r.Context(), se.Actor, block, ru)
	})
}

func (s *Server) deleteRuleForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.blockAction(w, r, se, "Rule removed from block ", func(block string) error {
		return s.people.DeleteRule(r.Context(), se.Actor, block, r.PostForm.Get("level"))
	})
}

func (s *Server) blockWindowsForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.blockAction(w, r, se, "Windows saved for block ", func(block string) error {
		ws, err := people.ParseWindows(r.PostForm.Get("windows"))
		if err != nil {
			return err
		}
		return s.people.SetBlockWindows(r.Context(), se.Actor, block, ws)
	})
}

// blockAction runs one console post on block {name}: the form and its
// CSRF token, then do. A store error shows the blocks page again with
// it; on success the block gets its policy and the browser goes back to
// the blocks page with notice followed by the block's name.
func (s *Server) blockAction(w http.ResponseWriter, r *http.Request, se *users.Session, notice string, do func(block string) error) {
	if !s.postForm(w, r, se) {
		return
	}
	block := r.PathValue("name")
	if err := do(block); err != nil {
		st, msg := s.statusOf(err)
		s.renderBlocks(w, r, se, st, msg)
		return
	}
	s.notifyBlocks(r.Context(), block)
	redirectNotice(w, r, "/blocks", notice+block+".")
}

// ---- settings ----

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderSettings(w, r, se, http.StatusOK, "", nil)
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg string, in *people.PrisonSettings) {
	p := &settingsView{Layout: page.For(se, "Settings").WithNotice(r), IsAdmin: isAdmin(se), Settings: in}
	p.Error = errMsg
	if in == nil {
		var err error
		if p.Settings, err = s.people.Settings(r.Context()); err != nil {
			status, p.Error = s.statusOf(err)
			p.Settings = &people.PrisonSettings{}
		}
	}
	s.render(w, status, "manage_settings.html", p)
}

func (s *Server) settingsForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	f := r.PostForm
	in := people.PrisonSettings{PrisonName: f.Get("prison_name"), TimeZone: f.Get("time_zone")}
	n, err := format.OptInt(f.Get("max_contacts"))
	in.MaxContacts = n
	var blocks []string
	if err == nil {
		blocks, err = s.people.UpdateSettings(r.Context(), se.Actor, in)
	}
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderSettings(w, r, se, st, msg, &in)
		return
	}
	s.notifyBlocks(r.Context(), blocks...)
	redirectNotice(w, r, "/settings", "Settings saved.")
}

// ---- import ----

// ImportJobTimeout bounds one import job.
const ImportJobTimeout = 15 * time.Minute

func (s *Server) importPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderImport(w, r, se, http.StatusOK, "")
}

func (s *Server) renderImport(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg string) {
	p := &importView{Layout: page.For(se, "Import")}
	p.Error = errMsg
	if id := r.URL.Query().Get("job"); id != "" {
		if p.Job = s.imports.Find(id, se.Actor); p.Job == nil {
			p.Error = "That import is not known (it may be from before a restart)."
			status = http.StatusNotFound
		}
	}
	s.render(w, status, "manage_import.html", p)
}

// importForm takes the uploaded file, checks it can be read and starts the
// job; the answer redirects to the page following its progress.
func (s *Server) importForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !signin.SameOrigin(r) {
		http.Error(w, "cross-site form post refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, tables.MaxImportBytes+(1<<20))
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		s.renderImport(w, r, se, http.StatusRequestEntityTooLarge, fmt.Sprintf("The upload could not be read (files up to %d MiB).", tables.MaxImportBytes>>20))
		return
	}
	defer r.MultipartForm.RemoveAll()
	if !signin.TokensEqual(r.PostFormValue("csrf"), se.CSRF) {
		http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
		return
	}
	kind := r.PostFormValue("kind")
	if _, err := tables.ImportColumns(kind); err != nil {
		s.renderImport(w, r, se, http.StatusUnprocessableEntity, "Choose what the file holds: people or contacts.")
		return
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		s.renderImport(w, r, se, http.StatusUnprocessableEntity, "Choose a CSV or XLSX file.")
		return
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, tables.MaxImportBytes+1))
	if err != nil {
		s.renderImport(w, r, se, http.StatusBadRequest, "The upload could not be read.")
		return
	}
	table, err := tables.ReadTable(data)
	if err == nil {
		err = tables.CheckImportHeader(kind, table)
	}
	if err != nil {
		_, msg := s.statusOf(err)
		s.renderImport(w, r, se, http.StatusUnprocessableEntity, "Nothing was imported: "+strings.TrimPrefix(msg, "unreadable import file: ")+".")
		return
	}
	spec := importjob.Spec{Actor: se.Actor, Kind: kind, DryRun: r.PostFormValue("mode") != "apply", File: hdr.Filename, Total: len(table) - 1}
	id, err := s.imports.Start(spec, func(ctx context.Context, progress func(done, total int)) importjob.Result {
		return s.runImport(ctx, spec, table, progress)
	})
	if err != nil {
		http.Error(w, "The console is shutting down; upload the file again in a moment.", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/import?job="+id, http.StatusSeeOther)
}

// runImport is an import job's work: the import, then every block's
// policy republished when rows were applied.
func (s *Server) runImport(ctx context.Context, spec importjob.Spec, table [][]string, progress func(done, total int)) importjob.Result {
	rep, err := s.tables.Import(ctx, spec.Actor, spec.Kind, table, spec.DryRun, progress)
	res := importjob.Result{Report: rep}
	switch {
	case err == nil:
		res.State = importjob.StateDone
	case errors.Is(err, tables.ErrImportRejected):
		res.State, res.Message = importjob.StateRefused, "Nothing was imported: fix the rows below and upload the file again."
	case errors.Is(err, tables.ErrBadFile), errors.Is(err, store.ErrInvalid):
		_, msg := s.statusOf(err)
		res.State, res.Message = importjob.StateRefused, "Nothing was imported: "+msg
	case errors.Is(err, context.Canceled):
		res.State, res.Message = importjob.StateFailed, "The import was stopped (the console shut down) and nothing was imported; upload the file again."
	default:
		s.log.Error("web: import", "err", err)
		res.State, res.Message = importjob.StateFailed, "The import failed and nothing was imported; try again."
	}
	if err == nil && !spec.DryRun && rep != nil && rep.Applied > 0 {
		if bs, err := s.st.Blocks(ctx); err == nil {
			for _, b := range bs {
				s.notifyBlocks(ctx, b.Name)
			}
		}
	}
	return res
}

// importJob is the JSON progress endpoint the import page polls.
func (s *Server) importJob(w http.ResponseWriter, r *http.Request, se *users.Session) {
	j := s.imports.Find(r.PathValue("job"), se.Actor)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if j == nil {
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"error": "no such import"})
		return
	}
	json.NewEncoder(w).Encode(j)
}

func (s *Server) importTemplate(w http.ResponseWriter, r *http.Request, se *users.Session) {
	kind, format, _ := strings.Cut(r.PathValue("file"), ".")
	b, err := tables.ImportTemplate(kind, format)
	if err != nil {
		http.Error(w, "templates: people.csv, people.xlsx, contacts.csv, contacts.xlsx", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", tableType(format))
	w.Header().Set("Content-Disposition", `attachment; filename="kinline-`+kind+`-template.`+format+`"`)
	w.Write(b)
}

func (s *Server) importScript(w http.ResponseWriter, r *http.Request, se *users.Session) {
	b, err := manageStatic.ReadFile("templates/manage_import.js")
	if err != nil {
		http.Error(w, "missing script", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Write(b)
}

// ---- export ----

func tableType(format string) string {
	if format == tables.FormatXLSX {
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
}

func (s *Server) exportPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	p := &exportView{Layout: page.For(se, "Export"), NeedsMFA: !page.Allowed(se, "GET /export/{file}")}
	s.render(w, http.StatusOK, "manage_export.html", p)
}

func (s *Server) exportFile(w http.ResponseWriter, r *http.Request, se *users.Session) {
	what, format, _ := strings.Cut(r.PathValue("file"), ".")
	if what != "people" && what != "contacts" && what != "calls" || format != tables.FormatCSV && format != tables.FormatXLSX {
		http.Error(w, "exports: people, contacts or calls, as .csv or .xlsx", http.StatusNotFound)
		return
	}
	c := CallerOf(se)
	var tb [][]string
	var err error
	if what == "calls" {
		tb, err = s.search.ExportCalls(r.Context(), se.Actor, format, c.ScopeBlocks(), reports.CallFilter{ShowHidden: c.SeesHidden()})
	} else {
		tb, err = s.tables.ExportTable(r.Context(), se.Actor, what, format, c.ScopeBlocks())
	}
	if err != nil {
		st, msg := s.statusOf(err)
		http.Error(w, msg, st)
		return
	}
	s.writeTable(w, what, format, tb)
}

// writeTable answers a download of the table tb as file name.format.
func (s *Server) writeTable(w http.ResponseWriter, name, format string, tb [][]string) {
	w.Header().Set("Content-Type", tableType(format))
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.`+format+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := tables.WriteTable(w, format, tb); err != nil {
		s.log.Error("web: export", "file", name+"."+format, "err", err)
	}
}
