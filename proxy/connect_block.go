package proxy

import (
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// answersBlockedOverTLS reports whether a CONNECT to a host blocked by
// name is answered with our certificate: whenever interception is on and
// the host is not tunnelled. Under InterceptListed that includes hosts not
// listed: nothing goes upstream, and the client trusts our CA for the
// listed ones.
func (s *Server) answersBlockedOverTLS(host string, mode Intercept) bool {
	return mode != InterceptNone && s.signer() != nil &&
		!hostIn(host, s.opts.Passthrough) && !s.pins.pinned(host, s.now())
}

// blockedHost is the decision that blocked a CONNECT's host by name, and
// the CNAME target that did when the name was cloaked.
type blockedHost struct {
	d         blocklist.Decision
	cloakedBy string
}

// serveBlockedHost answers a request read from a blocked host's
// intercepted connection. It reports false when an override allows the
// request now (the block page's allow link was followed on this
// connection): the caller forwards it then.
func (s *Server) serveBlockedHost(w http.ResponseWriter, r *http.Request, client netip.Addr, b *blockedHost) bool {
	d := b.d
	host := strings.ToLower(r.URL.Hostname())
	source := ""
	if u, err := url.Parse(sourceURL(r.Header)); err == nil {
		source = strings.ToLower(u.Hostname())
	}
	if _, ok := s.opts.Policy().Allowed(client, host, source); ok {
		return false
	}
	typ := RequestType(r.Header, r.URL.Path)
	d.Response = blocklist.ResponseFor(typ)
	if d.Response == blocklist.ResponseBlockPage && r.Method != http.MethodGet && r.Method != http.MethodHead {
		d.Response = blocklist.ResponseNoContent
	}
	s.emit(Event{Kind: KindBlocked, Client: client.String(), Method: r.Method, Host: host, URL: r.URL.String(),
		Type: typ.String(), Source: source, Rule: d.Rule, List: d.List, Response: d.Response.String(), CloakedBy: b.cloakedBy})
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
