package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// LookupHost resolves host for pixelwall's own connections (the proxy's
// dialer, the list downloads) through the same cache, upstreams,
// serve-stale and local names as DNS clients get, so that no lookup leaves
// the process any other way. It returns the A and AAAA addresses (IPv4
// first) and the CNAME chain met on the way, in order. It applies no
// policy: callers check the chain against their own.
//
// Errors are *net.DNSError, naming the upstreams asked as Server.
func (s *Server) LookupHost(ctx context.Context, host string) ([]netip.Addr, []string, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil, nil
	}
	name := dns.Fqdn(strings.ToLower(host))
	switch {
	case name == LocalName:
		return s.opts.LocalAddrs, nil, nil
	case isLocalhost(name):
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}, nil, nil
	case isInvalid(name):
		return nil, nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	results := s.askAddrs(ctx, name)
	return s.readAddrs(host, name, &results)
}

// hostAnswer is the outcome of one of LookupHost's two queries.
type hostAnswer struct {
	resp *dns.Msg
	err  error
}

// askAddrs asks for name's A and AAAA records (results in that order) in
// parallel, each from name's upstreams or, when it has none, the local zone.
func (s *Server) askAddrs(ctx context.Context, name string) [2]hostAnswer {
	var results [2]hostAnswer
	ask := func(i int, qtype uint16) {
		req := new(dns.Msg)
		req.SetQuestion(name, qtype)
		set := s.upstreamsFor(name, qtype)
		if set == nil {
			results[i].resp = localZoneAnswer(req, name, localZone(name, qtype))
			return
		}
		results[i].resp, _, results[i].err = s.lookup(ctx, req, name, req.Question[0], set)
	}
	// AAAA alongside, A on this goroutine: one goroutine a lookup, not two.
	done := make(chan struct{})
	go func() {
		defer close(done)
		ask(1, dns.TypeAAAA)
	}()
	ask(0, dns.TypeA)
	<-done
	return results
}

// readAddrs makes LookupHost's result for host (name, its FQDN) from the
// answers to its two queries.
func (s *Server) readAddrs(host, name string, results *[2]hostAnswer) ([]netip.Addr, []string, error) {
	var addrs, v6 []netip.Addr
	var chain []string
	notFound := true
	var firstErr error
	for _, r := range results {
		if r.err != nil {
			firstErr = r.err
			continue
		}
		if r.resp.Rcode != dns.RcodeNameError {
			notFound = false
		}
		var c []string
		for _, rr := range r.resp.Answer {
			switch v := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
					addrs = append(addrs, a)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(v.AAAA); ok {
					v6 = append(v6, a)
				}
			case *dns.CNAME:
				c = append(c, strings.TrimSuffix(strings.ToLower(v.Target), "."))
			}
		}
		if len(chain) == 0 {
			chain = c // both answers carry the same chain: one copy is kept
		}
	}
	addrs = append(addrs, v6...)
	if len(addrs) > 0 {
		return addrs, chain, nil
	}
	e := &net.DNSError{Name: host, Server: s.upstreamNames(name)}
	switch {
	case firstErr != nil && (results[0].err != nil && results[1].err != nil):
		e.Err = firstErr.Error()
		e.IsTimeout = isTimeout(firstErr)
		e.IsTemporary = true
	case notFound:
		e.Err, e.IsNotFound = "no such host", true
	default:
		e.Err, e.IsNotFound = "no address for this name", true
	}
	return nil, chain, e
}

// upstreamNames are the upstreams asked for name, for error messages.
func (s *Server) upstreamNames(name string) string {
	set := s.upstreamsFor(name, dns.TypeA)
	if set == nil {
		return "pixelwall (local name)"
	}
	names := make([]string, len(set.ups))
	for i, u := range set.ups {
		names[i] = u.String()
	}
	return strings.Join(names, ", ")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
