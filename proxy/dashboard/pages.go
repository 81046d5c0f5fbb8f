package dashboard

import (
	"bytes"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// base is what every page shows: title, navigation, flash message and the
// CSRF token for its forms.
type base struct {
	Title   string
	Nav     string // the current page: overview, log or lists
	Menu    bool   // show the navigation (not on the login page)
	Logout  bool   // show the logout button
	Metrics bool
	CSRF    string
	Flash   *flash
}

// base is the common part of a page answering r. It takes the flash
// message, so it must be called before anything is written.
func (s *Server) base(w http.ResponseWriter, r *http.Request, title, nav string) base {
	_, loggedIn := s.session(r)
	return base{
		Title:   title,
		Nav:     nav,
		Menu:    !s.auth || loggedIn,
		Logout:  s.auth && loggedIn,
		Metrics: s.opts.Metrics != nil,
		CSRF:    s.csrf(r),
		Flash:   s.takeFlash(w, r),
	}
}

// render executes page with data and writes it with status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	var buf bytes.Buffer
	if err := s.pages.execute(&buf, page, data); err != nil {
		s.errorPage(w, r, "render the page", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

// learnedView is one row of the learned rules.
type learnedView struct {
	LearnedRule
	LearnedAgo, LearnedAt   string
	LastUsedAgo, LastUsedAt string
}

// unlearn serves POST /unlearn (ServeHTTP checked the origin and the CSRF
// token): it forgets a learned rule and goes back to /lists.
func (s *Server) unlearn(w http.ResponseWriter, r *http.Request) {
	if s.opts.Unlearn == nil {
		http.NotFound(w, r)
		return
	}
	rule := strings.TrimSpace(r.PostForm.Get("rule"))
	if rule == "" || len(rule) > 2048 {
		http.Error(w, "Bad rule.", http.StatusBadRequest)
		return
	}
	if err := s.opts.Unlearn(rule); err != nil {
		s.logger.Error("dashboard: unlearn failed", "rule", rule, "err", err)
		s.setFlash(w, r, flash{Kind: "error", Msg: "Could not unlearn " + rule + ": " + err.Error()})
	} else {
		s.logger.Info("dashboard: unlearned", "rule", rule, "remote", r.RemoteAddr)
		s.setFlash(w, r, flash{Kind: "ok", Msg: "unlearned " + rule + ": its pixels reach the heuristic again, which may learn it anew"})
	}
	http.Redirect(w, r, "/lists", http.StatusSeeOther)
}

// allow serves POST /allow (ServeHTTP checked the origin and the CSRF
// token): it applies the allow and goes back with a flash message.
func (s *Server) allow(w http.ResponseWriter, r *http.Request) {
	if s.opts.Allow == nil {
		http.NotFound(w, r)
		return
	}
	form := r.PostForm
	back := backTarget(form.Get("back"))
	var a AllowAction
	switch form.Get("target") {
	case "host", "":
		a.Host = cleanHost(form.Get("host"))
		if a.Host == "" {
			http.Error(w, "Bad host.", http.StatusBadRequest)
			return
		}
	case "site":
		a.Site = cleanHost(form.Get("site"))
		if a.Site == "" {
			http.Error(w, "Bad site.", http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, "Bad target: want host or site.", http.StatusBadRequest)
		return
	}
	switch form.Get("who") {
	case "all", "":
	case "client":
		ip, err := netip.ParseAddr(strings.TrimSpace(form.Get("client")))
		if err != nil {
			http.Error(w, "Bad client address.", http.StatusBadRequest)
			return
		}
		a.Client = ip.String()
	default:
		http.Error(w, "Bad client choice: want all or client.", http.StatusBadRequest)
		return
	}
	switch form.Get("for") {
	case "hour":
		a.For = time.Hour
	case "always":
	default:
		http.Error(w, "Bad duration: want hour or always.", http.StatusBadRequest)
		return
	}
	if err := s.opts.Allow(a); err != nil {
		s.logger.Error("dashboard: allow failed", "allow", a.String(), "err", err)
		s.setFlash(w, r, flash{Kind: "error", Msg: "Could not allow " + a.String() + ": " + err.Error()})
	} else {
		s.logger.Info("dashboard: allowed", "allow", a.String(), "remote", r.RemoteAddr)
		s.setFlash(w, r, flash{Kind: "ok", Msg: "allowed " + a.String()})
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// backTarget is where an allow goes back to: one of the dashboard's pages,
// default the log.
func backTarget(back string) string {
	back = localTarget(back, "/log")
	u, err := url.Parse(back)
	if err != nil {
		return "/log"
	}
	switch u.Path {
	case "/", "/log", "/lists":
		return back
	}
	return "/log"
}

// cleanHost returns host lowercased without a trailing dot, or "" when it
// does not look like a host name or an IP address.
func cleanHost(host string) string {
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if host == "" || len(host) > 253 {
		return ""
	}
	for _, c := range []byte(host) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == ':', c == '[', c == ']':
		default:
			return ""
		}
	}
	return host
}
