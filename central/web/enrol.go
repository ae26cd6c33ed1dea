package web

// Enrolment: the appliances page, where system administrators add an
// appliance to a block, move it to another and retire it (the store
// audits each change; moves republish both blocks' policies, a retirement
// is told to central through Config.Retired so its live connection goes).

import (
	"net/http"
	"strings"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/users"
	"github.com/kinline/kinline/central/web/page"
)

// enrolPages are the pages of this file.
func (s *Server) enrolPages() map[string]page.Handler {
	return map[string]page.Handler{
		"GET /appliances":                     s.appliancesPage,
		"POST /appliances":                    s.enrolForm,
		"POST /appliances/{appliance}/move":   s.moveApplianceForm,
		"POST /appliances/{appliance}/retire": s.retireApplianceForm,
	}
}

// appliancesView is the data of manage_appliances.html.
type appliancesView struct {
	page.Layout
	Enrolled []store.Appliance
	Retired  []store.Appliance
	Blocks   []string
	// ID and Block refill the enrol form after an error.
	ID, Block string
}

func (s *Server) appliancesPage(w http.ResponseWriter, r *http.Request, se *users.Session) {
	s.renderAppliances(w, r, se, http.StatusOK, "", "", "")
}

func (s *Server) renderAppliances(w http.ResponseWriter, r *http.Request, se *users.Session, status int, errMsg, id, block string) {
	p := &appliancesView{Layout: page.For(se, "Appliances").WithNotice(r), ID: id, Block: block}
	p.Error = errMsg
	err := func() error {
		bs, err := s.st.Blocks(r.Context())
		if err != nil {
			return err
		}
		for _, b := range bs {
			p.Blocks = append(p.Blocks, b.Name)
		}
		as, err := s.st.Appliances(r.Context())
		if err != nil {
			return err
		}
		for _, a := range as {
			if a.Retired != nil {
				p.Retired = append(p.Retired, a)
			} else {
				p.Enrolled = append(p.Enrolled, a)
			}
		}
		return nil
	}()
	if err != nil {
		status, p.Error = s.statusOf(err)
	}
	s.render(w, status, "manage_appliances.html", p)
}

func (s *Server) enrolForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	id, block := strings.TrimSpace(r.PostForm.Get("id")), strings.TrimSpace(r.PostForm.Get("block"))
	if err := s.st.EnrolAppliance(r.Context(), se.Actor, id, block); err != nil {
		st, msg := s.statusOf(err)
		s.renderAppliances(w, r, se, st, msg, id, block)
		return
	}
	s.log.Info("appliance enrolled", "appliance", id, "block", block, "by", se.Actor)
	s.notifyBlocks(r.Context(), block)
	redirectNotice(w, r, "/appliances", "Appliance "+id+" enrolled in block "+block+".")
}

func (s *Server) moveApplianceForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	id, block := r.PathValue("appliance"), strings.TrimSpace(r.PostForm.Get("block"))
	from, err := s.st.MoveAppliance(r.Context(), se.Actor, id, block)
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderAppliances(w, r, se, st, msg, "", "")
		return
	}
	s.log.Info("appliance moved", "appliance", id, "from", from, "block", block, "by", se.Actor)
	s.notifyBlocks(r.Context(), from, block)
	redirectNotice(w, r, "/appliances", "Appliance "+id+" moved to block "+block+".")
}

func (s *Server) retireApplianceForm(w http.ResponseWriter, r *http.Request, se *users.Session) {
	if !s.postForm(w, r, se) {
		return
	}
	id := r.PathValue("appliance")
	block, err := s.st.RetireAppliance(r.Context(), se.Actor, id)
	if err != nil {
		st, msg := s.statusOf(err)
		s.renderAppliances(w, r, se, st, msg, "", "")
		return
	}
	s.log.Info("appliance retired", "appliance", id, "block", block, "by", se.Actor)
	if s.cfg.Retired != nil {
		s.cfg.Retired(id)
	}
	redirectNotice(w, r, "/appliances", "Appliance "+id+" retired: its connections are refused from now on.")
}
