package proxy

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/pixelwall/pixelwall/blocklist"
)

// blockedConnect answers a CONNECT to a host blocked by name when the
// host would be intercepted: the TLS handshake is completed with our own
// certificate for the host, the host itself is never dialled, and every
// request on the connection gets the answer a blocked request of its type
// gets (the block page for navigations, with the allow link). Hosts that are
// tunnelled (passthrough, pinned, intercept none) are refused instead, as
// their clients would not accept our certificate (answersBlockedOverTLS).
func (s *Server) blockedConnect(host, hostport string, d blocklist.Decision) *goproxy.ConnectAction {
	return &goproxy.ConnectAction{
		Action: goproxy.ConnectHijack,
		Hijack: func(req *http.Request, conn net.Conn, ctx *goproxy.ProxyCtx) { s.mitm(req, conn, host, hostport, &d) },
	}
}

// answersBlockedOverTLS reports whether a CONNECT to a host blocked by
// name is answered with our certificate: whenever interception is on and
// the host is not tunnelled. Under InterceptListed that includes hosts not
// listed: nothing goes upstream, and the client trusts our CA for the
// listed ones.
func (s *Server) answersBlockedOverTLS(host string) bool {
	return s.opts.Intercept != InterceptNone && s.opts.Signer != nil &&
		!hostIn(host, s.opts.Passthrough) && !s.pins.pinned(host, s.now())
}

// serveBlockedHost answers a request read from a blocked host's
// intercepted connection. It reports false when an override allows the
// request now (the block page's allow link was followed on this
// connection): the caller forwards it then.
func (s *Server) serveBlockedHost(w http.ResponseWriter, r *http.Request, d blocklist.Decision) bool {
	client := clientIP(r.RemoteAddr)
	host := strings.ToLower(r.URL.Hostname())
	source := ""
	if u, err := url.Parse(sourceURL(r)); err == nil {
		source = strings.ToLower(u.Hostname())
	}
	if s.allowed(client, host, source) {
		return false
	}
	typ := requestType(r)
	d.Response = blocklist.ResponseFor(typ)
	if d.Response == blocklist.ResponseBlockPage && r.Method != http.MethodGet && r.Method != http.MethodHead {
		d.Response = blocklist.ResponseNoContent
	}
	s.emit(Event{Kind: KindBlocked, Client: client.String(), Method: r.Method, Host: host, URL: r.URL.String(),
		Type: typ.String(), Source: source, Rule: d.Rule, List: d.List, Response: d.Response.String()})
	resp := s.blockedResponse(r, d, host)
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, resp.Body)
	}
	return true
}

// refusalFolder remembers refused CONNECTs so that a client's retries of
// one (Chromium makes several) are logged once. Safe for concurrent use.
type refusalFolder struct {
	mu   sync.Mutex
	last map[refusal]time.Time
}

type refusal struct {
	client netip.Addr
	host   string
}

// refusalWindow is how long retries of a refused CONNECT fold into its
// first entry.
const refusalWindow = 10 * time.Second

// first reports whether a refusal of host for client is the first within
// refusalWindow, and remembers it.
func (f *refusalFolder) first(client netip.Addr, host string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil || len(f.last) >= maxPinMemory {
		f.last = make(map[refusal]time.Time)
	}
	k := refusal{client, host}
	t, seen := f.last[k]
	f.last[k] = now
	return !seen || now.Sub(t) > refusalWindow
}
