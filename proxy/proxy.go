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

// Resolver looks up upstream hosts for the proxy: its dialer connects to
// the addresses, and the CNAME chain is checked against the lists before a
// request is forwarded. Implementations must be safe for concurrent use.
type Resolver interface {
	// LookupHost returns host's addresses and the CNAME targets met on the
	// way, in order (none when the name has no CNAME).
	LookupHost(ctx context.Context, host string) (addrs []netip.Addr, cnames []string, err error)
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
// default, except Policy and Signer, which are required.
type Options struct {
	// Policy returns what is blocked right now (required). It is called
	// once per request or CONNECT; the policy it returns is not kept.
	Policy func() *blocklist.Policy
	// Allow records the block page's "allow for an hour"; nil refuses it.
	Allow func(blocklist.Override) error
	// Resolver resolves upstream hosts, for the dialer and for CNAME
	// uncloaking. Nil: the system resolver, without CNAME checks.
	Resolver Resolver
	// Signer makes certificates for intercepted hosts; CA is offered for
	// download on the proxy's own pages.
	Signer *certs.Signer
	CA     *certs.CA

	// AllowClients are the networks served; others get 403. Default: loopback.
	AllowClients []netip.Prefix
	// DenyDestinations are networks the proxy never connects to, for any
	// client. Loopback, unspecified and this host's own addresses are
	// refused to clients on other machines without being listed.
	DenyDestinations []netip.Prefix
	// ConnectPorts are the ports clients on other machines may CONNECT
	// to. Nil means DefaultConnectPorts.
	ConnectPorts []uint16
	// AdminAddrs are the admin (dashboard) listener's addresses: served
	// through the proxy to loopback clients only. SetAdminAddrs replaces
	// them.
	AdminAddrs []netip.AddrPort

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
	// Learner, when set, learns rules from the heuristic's catches and
	// blocks with them before contact, where the lists say Pass and no
	// allow covers the request. Nil: no learning.
	Learner Learner

	// Transport sends requests upstream, and its DialContext opens
	// tunnels. Default: NewTransport with Resolver. The proxy uses clones
	// of it, one per kind of client (see CloseIdleConnections).
	// NewTransport's dialer checks each address before connecting to it;
	// with another DialContext the check comes once connected, before any
	// byte is sent.
	Transport *http.Transport

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
	opts  Options
	gp    *goproxy.ProxyHttpServer
	log   *slog.Logger
	certs atomic.Pointer[caPair]
	inner innerServers
	now   func() time.Time

	// tr are Options.Transport's clones, one per client class; rt the
	// same as goproxy round trippers.
	tr [numClasses]*http.Transport
	rt [numClasses]goproxy.RoundTripper
	// own are this host's addresses; admin the admin listener's.
	own   ownAddrs
	admin atomic.Pointer[[]netip.AddrPort]
	// refusals is the logging budget of refusals.
	refusals *refusalLimiter
	// peekTimeout bounds the wait for a CONNECT client's first bytes.
	peekTimeout time.Duration

	// pins remembers hosts whose certificate our clients rejected.
	pins pinTracker
	// allowKey signs "allow for an hour" links so a page cannot forge them.
	allowKey [32]byte
	// failures counts upstream failures by cause.
	failures failureCounts
	// retries folds a client's retries of one refused CONNECT.
	retries refusalFolder
}

// New builds a Server.
func New(opts Options) (*Server, error) {
	if opts.Policy == nil {
		return nil, errors.New("proxy: Options.Policy is required")
	}
	if err := opts.checkEnums(); err != nil {
		return nil, err
	}
	if opts.Signer == nil && opts.Intercept != InterceptNone {
		return nil, errors.New("proxy: Options.Signer is required unless Intercept is none")
	}
	if len(opts.AllowClients) == 0 {
		opts.AllowClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if opts.ConnectPorts == nil {
		opts.ConnectPorts = DefaultConnectPorts
	}
	deny := make([]netip.Prefix, len(opts.DenyDestinations))
	for i, p := range opts.DenyDestinations {
		deny[i] = p.Masked()
	}
	opts.DenyDestinations = deny
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
		opts.Transport = NewTransport(TransportOptions{Resolver: opts.Resolver})
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
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, refusals: newRefusalLimiter(), peekTimeout: protocolPeek}
	s.own.list = net.InterfaceAddrs
	s.SetAdminAddrs(opts.AdminAddrs)
	s.classTransports(opts.Transport)
	for c, t := range s.tr {
		s.rt[c] = goproxy.RoundTripperFunc(func(r *http.Request, _ *goproxy.ProxyCtx) (*http.Response, error) { return t.RoundTrip(r) })
	}
	s.pins.init()
	s.SetCA(opts.CA, opts.Signer)
	rand.Read(s.allowKey[:]) // never fails (Go 1.24)

	gp := goproxy.NewProxyHttpServer()
	// Requests get their client's transport in onRequest; this one, the
	// strictest, is for any that would not.
	gp.Tr = s.tr[classRemote]
	gp.KeepAcceptEncoding = true
	gp.Logger = goproxyLogger{s.log}
	gp.NonproxyHandler = http.HandlerFunc(s.servePages)
	gp.OnRequest().DoFunc(s.onRequest)
	gp.OnResponse().DoFunc(s.onResponse)
	gp.OnResponse().DoFunc(s.sendResponse) // last: it sees the response as sent
	s.gp = gp
	return s, nil
}

// ServeHTTP checks the client's address, serves CONNECT and the proxy's
// own pages, and hands everything else to goproxy.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client := clientIP(r.RemoteAddr)
	if !s.clientAllowed(client) {
		s.emitRefusal(client, Event{Kind: KindAccessRefused, Client: client.String(), Method: r.Method, Host: r.Host})
		w.Header().Set("Connection", "close")
		http.Error(w, "pixelwall: this proxy does not serve your network\n", http.StatusForbidden)
		return
	}
	info := &reqInfo{client: client, class: s.classify(client)}
	if r.Method == http.MethodConnect {
		s.serveConnect(w, r, info)
		return
	}
	if s.isOwnRequest(r) {
		s.servePages(w, r)
		return
	}
	s.proxyRequest(w, r, info)
}

// proxyRequest hands a proxied request (plain, or read from an intercepted
// connection) to goproxy, refusing IP literals the client may not reach
// before anything is dialled.
func (s *Server) proxyRequest(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	if s.checkLiteral(w, r, info) {
		return
	}
	info.sw.ResponseWriter = w
	s.gp.ServeHTTP(&info.sw, s.withReqInfo(r, info))
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

// clientIP is the client's address, without an IPv6 zone: a link-local
// client (fe80::1%eth0) matches fe80::/10 in allow_clients, as in DNS.
func clientIP(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		a, _ := netip.ParseAddr(remoteAddr)
		return a.Unmap().WithZone("")
	}
	return ap.Addr().Unmap().WithZone("")
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
