package resolver

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/pixelwall/pixelwall/blocklist/lru"
)

// ClientNames names clients by their PTR records, looked up through the
// resolver (so a router's local zone answers when it is an upstream, or
// under dns.domain_upstreams). NameOf answers from what is known and never
// waits: an address not yet known is looked up in the background and
// named on a later call. Safe for concurrent use.
type ClientNames struct {
	s       *Server
	ttl     time.Duration
	mu      sync.Mutex
	names   *lru.Cache[netip.Addr, ptrName]
	flights singleflight.Group
}

type ptrName struct {
	name string // "" when the address has none
	at   time.Time
}

// clientNamesTTL is how long a name (or the lack of one) is kept.
const clientNamesTTL = time.Hour

// NewClientNames names clients through s.
func (s *Server) NewClientNames() *ClientNames {
	return &ClientNames{s: s, ttl: clientNamesTTL, names: lru.New[netip.Addr, ptrName](4096)}
}

// NameOf is a's PTR name without the final dot, or "" when it has none or
// it is not known yet.
func (c *ClientNames) NameOf(a netip.Addr) string {
	a = a.Unmap()
	now := c.s.now()
	c.mu.Lock()
	n, ok := c.names.Get(a)
	c.mu.Unlock()
	if !ok || now.Sub(n.at) >= c.ttl {
		go c.flights.Do(a.String(), func() (any, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*c.s.opts.Timeout)
			defer cancel()
			name := c.s.lookupPTR(ctx, a)
			c.mu.Lock()
			c.names.Add(a, ptrName{name: name, at: c.s.now()})
			c.mu.Unlock()
			return nil, nil
		})
	}
	return n.name
}

// lookupPTR asks for a's PTR record as a DNS client's query would be
// answered, local names included; "" when there is none.
func (s *Server) lookupPTR(ctx context.Context, a netip.Addr) string {
	name, err := dns.ReverseAddr(a.String())
	if err != nil {
		return ""
	}
	req := new(dns.Msg)
	req.SetQuestion(name, dns.TypePTR)
	set := s.upstreamsFor(name, dns.TypePTR)
	if set == nil {
		return "" // a local name answered here: none
	}
	resp, _, err := s.lookup(ctx, req, name, req.Question[0], set)
	if err != nil {
		return ""
	}
	for _, rr := range resp.Answer {
		if p, ok := rr.(*dns.PTR); ok {
			return strings.TrimSuffix(strings.ToLower(p.Ptr), ".")
		}
	}
	return ""
}
