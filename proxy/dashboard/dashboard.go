// Package dashboard is pixelwall's admin web UI: an overview of what was
// blocked (a chart of the last 24 hours, headline numbers, top trackers,
// clients, lists and rules), a searchable block log with one-click allow
// forms, the status of the block lists, and the metrics endpoint.
//
// Pages are rendered on the server with html/template; styles and charts
// (SVG) are inline, there is no JavaScript and nothing is loaded from
// elsewhere. Every response carries a strict Content-Security-Policy.
//
// Access: when Options.PasswordHash is set, every page except /login
// needs a session, obtained by logging in with the password. Without a
// password the dashboard must be served on a loopback-only listener
// (Options.Loopback), and it then answers only requests addressed to a
// loopback host name, so that a web page cannot reach it through DNS
// rebinding. Every form carries a CSRF token, and POSTs from another
// origin are refused.
//
// The package imports only the standard library, bcrypt, the block log and
// blocklist (for the lists' status); the command wires it to the proxy, the
// resolver and the lists through Options.
package dashboard

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// AllowAction is an allow asked for from the dashboard. Exactly one of Host
// and Site is set.
type AllowAction struct {
	// Host allows this request host and its subdomains.
	Host string
	// Site allows everything on pages of this site. The dashboard passes
	// the page host as logged (Entry.Source); the Allow function reduces
	// it to its registrable domain if it wants to.
	Site string
	// Client limits the allow to this client address; "" means every
	// client.
	Client string
	// For is how long the allow lasts; 0 means always.
	For time.Duration
}

// String describes a: "example.com for an hour for all clients".
func (a AllowAction) String() string {
	var b strings.Builder
	if a.Site != "" {
		b.WriteString("everything on pages of ")
		b.WriteString(a.Site)
	} else {
		b.WriteString(a.Host)
	}
	switch {
	case a.For == time.Hour:
		b.WriteString(" for an hour")
	case a.For > 0:
		b.WriteString(" for ")
		b.WriteString(a.For.String())
	default:
		b.WriteString(" always")
	}
	if a.Client == "" {
		b.WriteString(" for all clients")
	} else {
		b.WriteString(" for ")
		b.WriteString(a.Client)
		b.WriteString(" only")
	}
	return b.String()
}

// BlockAction is a block asked for from the dashboard: "block this host"
// on an entry that a guess (the pixel heuristic, a learned rule) made.
type BlockAction struct {
	// Host is blocked with its subdomains, like a line of config deny:.
	Host string
}

// LearnedRule is a rule learned from the pixel heuristic, shown on /lists
// with an unlearn action.
type LearnedRule struct {
	Rule     string
	Host     string
	Learned  time.Time
	LastUsed time.Time
	Hits     int64  // requests it blocked
	Example  string // a URL it was learned from, query values removed
}

// Options configure New.
type Options struct {
	// Log is the block log the pages show. Required.
	Log *blocklog.Log
	// Metrics is served at /metrics; nil means 404.
	Metrics http.Handler
	// Allow applies an allow asked for from the log. It must take effect
	// without a restart. nil hides the allow forms.
	Allow func(AllowAction) error
	// Block adds a host to the deny rules, asked for from the log. It must
	// take effect without a restart. nil hides the block forms.
	Block func(BlockAction) error
	// Lists reports the status of every configured list, for /lists and
	// the overview's warnings; nil shows none. It is called on every page
	// view and must be cheap and safe for concurrent use.
	Lists func() []blocklist.ListStatus
	// Learned reports the rules learned from the pixel heuristic for
	// /lists; Unlearn forgets one at once. Nil hides them (and the action).
	Learned func() []LearnedRule
	Unlearn func(rule string) error
	// Proxy is the HTTP proxy's address (host:port) that clients are set
	// to, for the setup steps; "" when unknown.
	Proxy string
	// Warnings about the configuration, shown on the overview (an open
	// proxy or resolver, say).
	Warnings []string
	// Unallow removes the allows for exactly a host or site (one client's
	// or everyone's) and says how many; nil: /api/unallow answers 404.
	Unallow func(AllowAction) (int, error)
	// Pauses pause and resume blocking; nil functions hide pauses.
	Pauses PauseControl
	// Clients are the configured clients; ClientName names an address
	// (empty when unnamed). Either may be nil.
	Clients    func() []ClientInfo
	ClientName func(netip.Addr) string
	// PasswordHash is a bcrypt hash (see HashPassword). When it is set,
	// every page needs a login with the password.
	PasswordHash string
	// Loopback tells that the listener only accepts loopback connections.
	// When it is false, New fails unless PasswordHash is set.
	Loopback bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives errors and logins; default: discard.
	Logger *slog.Logger
}

// Server is the dashboard, an http.Handler.
type Server struct {
	opts   Options
	now    func() time.Time
	logger *slog.Logger
	mux    *http.ServeMux
	api    *http.ServeMux
	pages  *pages
	// cop refuses cross-origin form posts (Sec-Fetch-Site, else Origin
	// against Host); the CSRF token is a second check.
	cop *http.CrossOriginProtection

	// key is the per-process secret that CSRF tokens and flash cookies
	// are derived from.
	key [32]byte

	// auth is whether a password is required; hash is its bcrypt hash.
	auth bool
	hash []byte
	// failDelay is how long a wrong password waits before its answer.
	failDelay time.Duration
	// checking bounds how many bcrypt comparisons run at once.
	checking chan struct{}

	mu       sync.Mutex
	sessions map[[32]byte]time.Time // SHA-256 of the token → expiry
}

// Session and login settings.
const (
	sessionCookie   = "pixelwall_session"
	flashCookie     = "pixelwall_flash"
	sessionLifetime = 12 * time.Hour
	maxSessions     = 256
	loginFailDelay  = 400 * time.Millisecond
	maxFormBytes    = 64 << 10
)

// csp is the Content-Security-Policy of every response: no scripts at all,
// inline styles (and inline SVG), forms posting to the dashboard only.
const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// New returns a dashboard. It fails without a log, with a malformed
// password hash, or when the listener is not loopback-only and no password
// is set.
func New(opts Options) (*Server, error) {
	if opts.Log == nil {
		return nil, errors.New("dashboard: Options.Log is required")
	}
	if !opts.Loopback && opts.PasswordHash == "" {
		return nil, errors.New("dashboard: a password is required when the dashboard listens on a non-loopback address")
	}
	s := &Server{cop: http.NewCrossOriginProtection(),
		opts:      opts,
		now:       opts.Now,
		logger:    opts.Logger,
		failDelay: loginFailDelay,
		checking:  make(chan struct{}, 2),
		sessions:  make(map[[32]byte]time.Time),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if opts.PasswordHash != "" {
		s.hash = []byte(opts.PasswordHash)
		if _, err := bcrypt.Cost(s.hash); err != nil {
			return nil, fmt.Errorf("dashboard: the password hash is not a bcrypt hash: %w", err)
		}
		s.auth = true
	}
	if _, err := rand.Read(s.key[:]); err != nil {
		return nil, fmt.Errorf("dashboard: generating the secret key: %w", err)
	}
	var err error
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}

	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.overview)
	m.HandleFunc("GET /log", s.logPage)
	m.HandleFunc("GET /lists", s.lists)
	m.HandleFunc("POST /allow", s.allow)
	m.HandleFunc("POST /unlearn", s.unlearn)
	m.HandleFunc("POST /block", s.block)
	m.HandleFunc("GET /clients", s.clientsPage)
	m.HandleFunc("POST /pause", s.pauseForm)
	m.HandleFunc("/metrics", s.metrics)
	if s.auth {
		m.HandleFunc("GET /login", s.loginPage)
		m.HandleFunc("POST /login", s.login)
		m.HandleFunc("POST /logout", s.logout)
	}
	s.mux, s.api = m, s.apiRoutes()
	return s, nil
}

// HashPassword returns the bcrypt hash of password, for
// Options.PasswordHash.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("dashboard: the password is empty")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("dashboard: hashing the password: %w", err)
	}
	return string(h), nil
}

// ServeHTTP serves the dashboard: it sets the security headers, checks the
// host, the origin, the session and the CSRF token, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")

	if !s.auth && !loopbackHost(r.Host) {
		// Without a password only loopback names are answered: a page
		// that rebinds its own name to 127.0.0.1 gets nothing.
		http.Error(w, "This dashboard only answers requests to localhost.", http.StatusMisdirectedRequest)
		return
	}
	safe := r.Method == http.MethodGet || r.Method == http.MethodHead
	if !safe && s.cop.Check(r) != nil {
		http.Error(w, "Cross-origin request refused.", http.StatusForbidden)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		s.serveAPI(w, r)
		return
	}

	session, loggedIn := s.session(r)
	public := r.URL.Path == "/login"
	if s.auth && !loggedIn && !public {
		if r.URL.Path == "/metrics" && s.metricsBasicAuth(w, r) {
			return
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(localTarget(r.URL.RequestURI(), "/")), http.StatusSeeOther)
		return
	}

	if !safe {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "Bad form.", http.StatusBadRequest)
			return
		}
		want := s.csrfFor(r.URL.Path, session, loggedIn)
		if !validToken(r.PostForm.Get("csrf"), want) {
			http.Error(w, "Invalid or missing CSRF token: reload the page and try again.", http.StatusForbidden)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// metrics serves Options.Metrics.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	s.opts.Metrics.ServeHTTP(w, r)
}

// metricsBasicAuth serves /metrics to a scraper that sends the password
// with HTTP basic authentication (any user name), and answers 401 when the
// password is wrong. It reports whether it answered; without basic
// credentials it does not, and the caller redirects to the login page.
func (s *Server) metricsBasicAuth(w http.ResponseWriter, r *http.Request) bool {
	_, password, ok := r.BasicAuth()
	if !ok {
		return false
	}
	if !s.checkPassword(r.Context(), password) {
		w.Header().Set("WWW-Authenticate", `Basic realm="pixelwall", charset="UTF-8"`)
		http.Error(w, "Wrong password.", http.StatusUnauthorized)
		return true
	}
	s.metrics(w, r)
	return true
}

// loopbackHost reports whether the Host header names a loopback address:
// localhost, *.localhost or a loopback IP. An empty host (HTTP/1.0) is
// accepted.
func loopbackHost(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// localTarget returns target when it is a path on this server (not
// "//host/…" nor "/\host"), else def.
func localTarget(target, def string) string {
	if target == "" || target[0] != '/' || strings.HasPrefix(target, "//") || strings.HasPrefix(target, `/\`) {
		return def
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return def
	}
	return target
}

// errorPage answers an internal error, logging it.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.logger.Error("dashboard: "+what, "path", r.URL.Path, "err", err)
	if errors.Is(err, context.Canceled) {
		return
	}
	http.Error(w, "The dashboard could not "+what+". See the log for details.", http.StatusInternalServerError)
}

// Override is what the allow means for the lists: the host, or the whole
// registrable domain of the site, for one client or all, for a while or
// always (from now).
func (a AllowAction) Override(now time.Time) (blocklist.Override, error) {
	ov := blocklist.Override{Host: a.Host}
	if a.Site != "" {
		ov.Site = blocklist.RegistrableDomain(a.Site) // www.shop.example: the whole site
	}
	if a.Client != "" {
		c, err := netip.ParseAddr(a.Client)
		if err != nil {
			return ov, fmt.Errorf("client %q: %w", a.Client, err)
		}
		ov.Client = c
	}
	if a.For > 0 {
		ov.Until = now.Add(a.For)
	}
	return ov, nil
}
