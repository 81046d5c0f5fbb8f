// Package proxy is pixelwall's HTTP/HTTPS forward proxy: it answers blocked
// requests itself with empty responses of the right kind, strips tracking
// parameters and cross-site Referers, unwraps redirect trackers, and catches
// tiny tracking images from their responses. HTTPS is intercepted with the
// install's own CA (package certs), except for hosts that must be tunnelled.
package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/certs"
)

// Matcher is what the proxy needs of the filter engine. Implementations
// must be safe for concurrent use and must not modify req.
type Matcher interface {
	Match(req *blocklist.Request) blocklist.Decision
	MatchHost(host string) blocklist.Decision
	Clean(req *blocklist.Request) (string, []string)
}

// Intercept says which HTTPS hosts are intercepted.
type Intercept string

const (
	InterceptAll    Intercept = "all"    // every host but the passthrough ones
	InterceptListed Intercept = "listed" // only InterceptHosts
	InterceptNone   Intercept = "none"   // tunnel everything (CONNECT blocking still applies)
)

// RefererPolicy says what happens to a cross-site Referer.
type RefererPolicy string

const (
	RefererStripCrossSite RefererPolicy = "strip-cross-site" // removed
	RefererOrigin         RefererPolicy = "origin"           // trimmed to scheme://host/
	RefererKeep           RefererPolicy = "keep"             // left alone
)

// Options configure a Server. The zero value of each field is a sensible
// default, except Matcher and Signer, which are required.
type Options struct {
	Matcher Matcher
	// Signer makes certificates for intercepted hosts; CA is offered for
	// download on the proxy's own pages.
	Signer *certs.Signer
	CA     *certs.CA

	// AllowClients are the networks served; others get 403. Default: loopback.
	AllowClients []netip.Prefix

	Intercept      Intercept // default InterceptAll
	InterceptHosts []string  // for InterceptListed; a name covers its subdomains
	// Passthrough hosts are always tunnelled (banking, OS updates, pinned
	// apps); a name covers its subdomains. Nil means DefaultPassthrough.
	Passthrough []string

	Referer RefererPolicy // default RefererOrigin
	// NoGPC stops adding Sec-GPC: 1 and DNT: 1 to requests.
	NoGPC bool
	// NoHeuristic turns off the tiny-image heuristic.
	NoHeuristic bool

	// Transport sends requests upstream. Default: NewTransport(TransportOptions{}).
	Transport *http.Transport

	// Overrides allow what the lists block (dashboard, block pages); the
	// block page's "allow for an hour" adds to it. Nil: a private set.
	Overrides *blocklist.Overrides

	// Event receives every decision worth logging. It must not block.
	Event func(Event)
	// Logger receives operational messages. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DefaultPassthrough are hosts tunnelled untouched by default: certificate-
// pinned apps and OS update services break under interception, and banks
// are better left alone.
var DefaultPassthrough = []string{
	// Apple: push, updates, iCloud and App Store pin their certificates.
	"apple.com", "icloud.com", "mzstatic.com", "push.apple.com", "itunes.apple.com",
	// Microsoft and Windows Update.
	"windowsupdate.com", "update.microsoft.com", "login.microsoftonline.com", "login.live.com",
	// Google account sign-in and Android / Play services pin.
	"accounts.google.com", "android.clients.google.com", "play.googleapis.com", "mtalk.google.com",
	// Linux distribution and language package mirrors verify their own signatures.
	"deb.debian.org", "security.debian.org", "archive.ubuntu.com", "security.ubuntu.com",
	"dl.google.com", "proxy.golang.org", "registry.npmjs.org", "pypi.org", "files.pythonhosted.org",
	// Messaging apps that pin.
	"whatsapp.net", "whatsapp.com", "signal.org", "telegram.org",
	// Payment and banking.
	"paypal.com", "stripe.com", "americanexpress.com", "chase.com", "bankofamerica.com", "wellsfargo.com",
	"hsbc.com", "barclays.co.uk", "ing.com", "revolut.com", "wise.com",
	// Certificate and time services.
	"ocsp.digicert.com", "ocsp.pki.goog", "crl.pki.goog", "ocsp.sectigo.com", "r3.o.lencr.org",
}

// OwnHost is the name of the proxy's own pages.
const OwnHost = "pixelwall.internal"

// Server is the proxy. It is an http.Handler to serve from a plain TCP
// http.Server. Safe for concurrent use.
type Server struct {
	opts    Options
	gp      *goproxy.ProxyHttpServer
	matcher atomic.Pointer[matcherBox]
	log     *slog.Logger
	now     func() time.Time

	// pins remembers hosts whose certificate our clients rejected.
	pins pinTracker
	// allowKey signs "allow for an hour" links so a page cannot forge them.
	allowKey [32]byte
	// failures counts upstream failures by cause.
	failures failureCounts
	// refusals folds a client's retries of one refused CONNECT.
	refusals refusalFolder
}

type matcherBox struct{ m Matcher }

// New builds a Server.
func New(opts Options) (*Server, error) {
	if opts.Matcher == nil {
		return nil, errors.New("proxy: Options.Matcher is required")
	}
	if opts.Signer == nil && opts.Intercept != InterceptNone {
		return nil, errors.New("proxy: Options.Signer is required unless Intercept is none")
	}
	if len(opts.AllowClients) == 0 {
		opts.AllowClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if opts.Intercept == "" {
		opts.Intercept = InterceptAll
	}
	if opts.Passthrough == nil {
		opts.Passthrough = DefaultPassthrough
	}
	if opts.Referer == "" {
		opts.Referer = RefererOrigin
	}
	if opts.Transport == nil {
		opts.Transport = NewTransport(TransportOptions{})
	}
	if opts.Event == nil {
		opts.Event = func(Event) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Overrides == nil {
		opts.Overrides = &blocklist.Overrides{Now: opts.Now}
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now}
	s.pins.init()
	rand.Read(s.allowKey[:]) // never fails (Go 1.24)
	s.SetMatcher(opts.Matcher)

	gp := goproxy.NewProxyHttpServer()
	gp.Tr = opts.Transport
	gp.ConnectDial = nil
	gp.ConnectDialWithReq = func(req *http.Request, network, addr string) (net.Conn, error) {
		c, err := opts.Transport.DialContext(req.Context(), network, addr)
		if err != nil {
			s.countDialFailure(err)
		}
		return c, err
	}
	gp.KeepAcceptEncoding = true
	gp.Logger = goproxyLogger{s.log}
	gp.NonproxyHandler = http.HandlerFunc(s.servePages)
	gp.OnRequest().HandleConnectFunc(s.handleConnect)
	gp.OnRequest().DoFunc(s.onRequest)
	gp.OnResponse().DoFunc(s.onUpstreamError)
	gp.OnResponse().DoFunc(s.onResponse)
	s.gp = gp
	return s, nil
}

// SetMatcher swaps in a new matcher; requests in flight finish with the old.
func (s *Server) SetMatcher(m Matcher) { s.matcher.Store(&matcherBox{m}) }

func (s *Server) match() Matcher { return s.matcher.Load().m }

// ServeHTTP checks the client's address, serves the proxy's own pages, and
// hands everything else to goproxy.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client := clientIP(r.RemoteAddr)
	if !s.clientAllowed(client) {
		s.emit(Event{Kind: KindAccessRefused, Client: client.String(), Method: r.Method, Host: r.Host})
		http.Error(w, "pixelwall: this proxy does not serve your network\n", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodConnect && s.isOwnRequest(r) {
		s.servePages(w, r)
		return
	}
	s.gp.ServeHTTP(w, r)
}

func (s *Server) clientAllowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.opts.AllowClients {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func clientIP(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		a, _ := netip.ParseAddr(remoteAddr)
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

func (s *Server) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	s.opts.Event(e)
}

// hostIn reports whether host is one of names or under one.
func hostIn(host string, names []string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, n := range names {
		if host == n || strings.HasSuffix(host, "."+n) {
			return true
		}
	}
	return false
}

// goproxyLogger sends goproxy's messages to slog at debug level: they are
// per-connection chatter (client resets, timeouts) that users need not see.
type goproxyLogger struct{ l *slog.Logger }

func (g goproxyLogger) Printf(format string, v ...any) {
	if g.l.Enabled(context.Background(), slog.LevelDebug) {
		g.l.Debug("goproxy", "msg", strings.TrimSpace(fmt.Sprintf(format, v...)))
	}
}
