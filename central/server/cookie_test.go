package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/config"
	"github.com/kinline/kinline/central/web/signin"
)

// TestConsoleCookiesSecure loads central configs as a deployer writes
// them and signs in to the console with the admin token: the sign-in
// form's cookie and the session cookie are Secure by default and with
// console.secure_cookie true, and not with false.
func TestConsoleCookiesSecure(t *testing.T) {
	for doc, want := range map[string]bool{"": true, "console: {secure_cookie: true}\n": true, "console: {secure_cookie: false}\n": false} {
		dir := t.TempDir()
		path := filepath.Join(dir, "central.yaml")
		err := os.WriteFile(path, []byte(doc+"http_listen: 127.0.0.1:0\ndata_dir: data\nmqtt: {listen: 127.0.0.1:0}\nappliances: [{id: a1, block: A, password: longenough}]\n"), 0o600)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		token, err := os.ReadFile(cfg.AdminTokenFile)
		if err != nil {
			s.close()
			t.Fatal(err)
		}
		login := do(s.Handler, httptest.NewRequest("GET", "/login", nil))
		form := cookieNamed(login, signin.LoginCookieName)
		if form == nil {
			s.close()
			t.Fatalf("%q: no sign-in cookie: %v", doc, login.Header["Set-Cookie"])
		}
		body := url.Values{"csrf": {form.Value}, "token": {strings.TrimSpace(string(token))}}.Encode()
		req := httptest.NewRequest("POST", "/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: form.Name, Value: form.Value})
		session := cookieNamed(do(s.Handler, req), signin.CookieName)
		s.close()
		if session == nil {
			t.Fatalf("%q: signing in with the admin token set no session cookie", doc)
		}
		if form.Secure != want || session.Secure != want || !session.HttpOnly {
			t.Errorf("%q: sign-in cookie Secure %v, session cookie Secure %v HttpOnly %v; want Secure %v", doc, form.Secure, session.Secure, session.HttpOnly, want)
		}
	}
}

func do(h http.Handler, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func cookieNamed(r *http.Response, name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
