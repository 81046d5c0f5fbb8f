package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// mac is the HMAC-SHA256 of purpose and value under the process key, in
// base64url.
func (s *Server) mac(purpose, value string) string {
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfFor is the CSRF token forms carry: bound to the session when there
// is one, to the login form on /login, or to the process when the
// dashboard has no password.
func (s *Server) csrfFor(path, session string, loggedIn bool) string {
	switch {
	case !s.auth:
		return s.mac("csrf", "")
	case path == "/login" || !loggedIn:
		return s.mac("csrf-login", "")
	default:
		return s.mac("csrf-session", session)
	}
}

// csrf is the CSRF token for the forms of a page answering r.
func (s *Server) csrf(r *http.Request) string {
	session, ok := s.session(r)
	return s.csrfFor(r.URL.Path, session, ok)
}

// validToken compares a submitted token in constant time.
func validToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// session returns r's session token when it names a live session.
func (s *Server) session(r *http.Request) (string, bool) {
	if !s.auth {
		return "", false
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	id := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.sessions[id]
	if !ok {
		return "", false
	}
	if !s.now().Before(exp) {
		delete(s.sessions, id)
		return "", false
	}
	return c.Value, true
}

// newSession starts a session and returns its token and expiry.
func (s *Server) newSession() (string, time.Time, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	exp := now.Add(sessionLifetime)
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.sessions {
		if !now.Before(e) {
			delete(s.sessions, id)
		}
	}
	for len(s.sessions) >= maxSessions { // drop the oldest
		var oldest [32]byte
		var first time.Time
		for id, e := range s.sessions {
			if first.IsZero() || e.Before(first) {
				oldest, first = id, e
			}
		}
		delete(s.sessions, oldest)
	}
	s.sessions[sha256.Sum256([]byte(token))] = exp
	return token, exp, nil
}

// endSession forgets token's session.
func (s *Server) endSession(token string) {
	s.mu.Lock()
	delete(s.sessions, sha256.Sum256([]byte(token)))
	s.mu.Unlock()
}

// checkPassword compares password with the hash (bcrypt compares in
// constant time); a wrong password waits failDelay before the answer.
func (s *Server) checkPassword(ctx context.Context, password string) bool {
	select {
	case s.checking <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	err := bcrypt.CompareHashAndPassword(s.hash, []byte(password))
	<-s.checking
	if err == nil {
		return true
	}
	if s.failDelay > 0 {
		t := time.NewTimer(s.failDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return false
}

// loginView is the login page.
type loginView struct {
	base
	Next  string
	Error string
}

// loginPage shows the login form; a logged-in user goes on to the
// overview.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localTarget(r.URL.Query().Get("next"), "/")
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", loginView{base: s.base(w, r, "Log in", ""), Next: next})
}

// login checks the password (the CSRF token was checked by ServeHTTP) and
// starts a session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	next := localTarget(r.PostForm.Get("next"), "/")
	if next == "/login" {
		next = "/"
	}
	if !s.checkPassword(r.Context(), r.PostForm.Get("password")) {
		s.logger.Warn("dashboard: wrong password", "remote", r.RemoteAddr)
		v := loginView{base: s.base(w, r, "Log in", ""), Next: next, Error: "Wrong password."}
		s.render(w, r, http.StatusUnauthorized, "login", v)
		return
	}
	token, exp, err := s.newSession()
	if err != nil {
		s.errorPage(w, r, "start a session", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  exp,
		MaxAge:   int(sessionLifetime / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	s.logger.Info("dashboard: login", "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if token, ok := s.session(r); ok {
		s.endSession(token)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// flash is a message shown once, on the page after a redirect.
type flash struct {
	Kind string `json:"k"` // "ok" or "error"
	Msg  string `json:"m"`
}

// setFlash stores f in a signed cookie for the next page.
func (s *Server) setFlash(w http.ResponseWriter, r *http.Request, f flash) {
	b, _ := json.Marshal(f)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name:     flashCookie,
		Value:    v + "." + s.mac("flash", v),
		Path:     "/",
		MaxAge:   60,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// takeFlash returns the flash message r carries, if any, and clears it.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	v, sig, ok := strings.Cut(c.Value, ".") // both halves are base64url: no dots
	if !ok || !validToken(sig, s.mac("flash", v)) {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(b, &f) != nil || f.Msg == "" {
		return nil
	}
	if f.Kind != "error" {
		f.Kind = "ok"
	}
	return &f
}
