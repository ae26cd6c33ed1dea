package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/kinline/kinline/central/api"
	"github.com/kinline/kinline/central/store/totp"
	"github.com/kinline/kinline/central/web"
)

// session is a console user signed in through the console's sign-in form
// (username, password and, when the user has a second factor, the
// current one-time code), exactly as a browser does. It calls the JSON API
// with the session cookie and the session's CSRF token, so what it does is
// audited under the user's name and checked against the user's role.
type session struct {
	user   string
	base   string
	client *http.Client
	csrf   string
}

// csrfInput finds the session's CSRF token in a console page (the sign-out
// form of the layout carries it on every page).
var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs user in at the console on addr. secret, when not empty, is
// the user's base32 TOTP secret: the current code is computed from it.
func signIn(ctx context.Context, addr, user, password, secret string) (*session, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	s := &session{user: user, base: "http://" + addr, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	// The sign-in form's double-submit token is the login cookie's value.
	if _, err := s.get(ctx, "/login"); err != nil {
		return nil, fmt.Errorf("sign-in page: %w", err)
	}
	u, _ := url.Parse(s.base + "/login")
	var formToken string
	for _, c := range jar.Cookies(u) {
		if c.Name == web.LoginCookieName {
			formToken = c.Value
		}
	}
	if formToken == "" {
		return nil, errors.New("the sign-in page set no form cookie")
	}
	form := url.Values{"csrf": {formToken}, "username": {user}, "password": {password}}
	if secret != "" {
		key, err := totp.DecodeSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("TOTP secret of %s: %w", user, err)
		}
		form.Set("code", totp.Code(key, time.Now()))
	}
	req, err := http.NewRequestWithContext(ctx, "POST", s.base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sign-in as %s: %s", user, resp.Status)
	}
	// Redirected to the first page, which carries the session's CSRF token.
	m := csrfInput.FindSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("sign-in as %s did not reach a console page (wrong password or code?)", user)
	}
	s.csrf = string(m[1])
	return s, nil
}

func (s *session) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return b, nil
}

// Do calls the JSON API as the signed-in user, like stack.Stack.Do: body
// (if not nil) is sent as JSON and the answer decoded into out (if not
// nil); a non-2xx answer is an error with the server's message.
func (s *session) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.CSRFHeader, s.csrf)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s as %s: %s: %s", method, path, s.user, resp.Status, strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	if b, ok := out.(*[]byte); ok {
		*b = data
		return nil
	}
	return json.Unmarshal(data, out)
}
