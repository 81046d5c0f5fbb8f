package proxy

import (
	"context"
	"net"
	"net/netip"
	"net/url"

	"github.com/pixelwall/pixelwall/blocklist"
)

// chain is host's CNAME chain from the Resolver; nil when there is no
// Resolver, host is an address, or the lookup failed (the dial then says
// why).
func (s *Server) chain(ctx context.Context, host string) []string {
	if s.opts.Resolver == nil {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	_, chain, err := s.opts.Resolver.LookupHost(ctx, host)
	if err != nil {
		return nil
	}
	return chain
}

// cloakedHost finds the first name of chain that a hostname rule of m (the
// client's group's lists) blocks.
func cloakedHost(m *blocklist.Matcher, chain []string) (string, blocklist.Decision) {
	for _, c := range chain {
		if d := m.MatchHost(c); d.Action == blocklist.Block {
			return c, d
		}
	}
	return "", blocklist.Decision{}
}

// uncloakHost blocks host, as DNS does, when a name in its CNAME chain is
// blocked by name, unless an override allows host. It returns the cloaked
// tracker's name with the decision.
func (s *Server) uncloakHost(ctx context.Context, pol *blocklist.Policy, client netip.Addr, host string) (string, blocklist.Decision) {
	c, d := cloakedHost(pol.MatcherFor(client), s.chain(ctx, host))
	if d.Action == blocklist.Block {
		if _, ok := pol.Allowed(client, host, ""); ok || pol.Paused(client, host, "") {
			return "", blocklist.Decision{}
		}
	}
	return c, d
}

// uncloak is uncloakHost for a request, and then matches the URL again with
// the canonical name (the chain's last) in place of the host, so that the
// path rules of the tracker behind a CNAME apply to it (as uBlock Origin's
// CNAME uncloaking does).
func (s *Server) uncloak(ctx context.Context, pol *blocklist.Policy, client netip.Addr, breq *blocklist.Request) (string, blocklist.Decision) {
	chain := s.chain(ctx, breq.Host)
	if len(chain) == 0 {
		return "", blocklist.Decision{}
	}
	m := pol.MatcherFor(client)
	c, d := cloakedHost(m, chain)
	if d.Action == blocklist.Block {
		d.Response = blocklist.ResponseFor(breq.Type)
	} else {
		c = chain[len(chain)-1]
		d = canonicalMatch(m, breq, c)
	}
	if d.Action == blocklist.Block {
		if _, ok := pol.Allowed(client, breq.Host, breq.SourceHost); ok || pol.Paused(client, breq.Host, breq.SourceHost) {
			return "", blocklist.Decision{}
		}
		return c, d
	}
	return "", blocklist.Decision{}
}

// canonicalMatch matches breq's URL with canonical as its host.
func canonicalMatch(m *blocklist.Matcher, breq *blocklist.Request, canonical string) blocklist.Decision {
	u, err := url.Parse(breq.URL)
	if err != nil {
		return blocklist.Decision{}
	}
	if port := u.Port(); port != "" {
		u.Host = net.JoinHostPort(canonical, port)
	} else {
		u.Host = canonical
	}
	creq, err := blocklist.NewRequest(u.String(), breq.SourceURL, breq.Type)
	if err != nil {
		return blocklist.Decision{}
	}
	return m.Match(creq)
}
