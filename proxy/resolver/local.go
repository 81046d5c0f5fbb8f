package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/miekg/dns"
)

// LocalNames says what happens to names only a local network can know:
// single-label names ("printer"; but a top-level domain's delegation and
// DNSSEC records, NS, DS, SOA, DNSKEY and the like, are forwarded, for
// validating stubs), names under local. (mDNS, RFC 6762)
// and home.arpa. (RFC 8375), and reverse look-ups of private, loopback,
// link-local and documentation addresses (the locally served zones of RFC
// 6303 and RFC 7793). A public resolver can only answer NXDOMAIN for them,
// and asking it tells it the names on the network.
type LocalNames string

const (
	// LocalNamesAuto (the default) answers them here, unless an upstream
	// is on a private, loopback or link-local address: a router or a
	// local resolver, which may know them.
	LocalNamesAuto LocalNames = "auto"
	// LocalNamesAnswer always answers them here, with NXDOMAIN.
	LocalNamesAnswer LocalNames = "answer"
	// LocalNamesForward always forwards them.
	LocalNamesForward LocalNames = "forward"
)

// upstreamSet is a set of upstreams used together (with the strategy),
// with what failover remembers of each.
type upstreamSet struct {
	ups    []Upstream
	health []health
}

func newUpstreamSet(ups []Upstream) *upstreamSet {
	return &upstreamSet{ups: ups, health: make([]health, len(ups))}
}

// upstreamsFor returns the upstreams for a query for name (lower case,
// fully qualified) and qtype: those of the longest DomainUpstreams domain
// name is at or under, else the main ones, or nil when it is a local name
// answered here.
func (s *Server) upstreamsFor(name string, qtype uint16) *upstreamSet {
	if len(s.domains) > 0 {
		for rest := name; rest != ""; {
			if set, ok := s.domains[rest]; ok {
				return set
			}
			_, rest, _ = strings.Cut(rest, ".")
		}
	}
	if s.answerLocal && localZone(name, qtype) != "" {
		return nil
	}
	return s.main
}

// localZones are the zones of names only a local network can know (see
// LocalNames), fully qualified, lower case.
var localZones = func() map[string]bool {
	z := map[string]bool{
		"local.": true, "home.arpa.": true,
		// RFC 6303 section 4.1-4.3 and RFC 7793 (100.64.0.0/10).
		"10.in-addr.arpa.": true, "168.192.in-addr.arpa.": true,
		"0.in-addr.arpa.": true, "127.in-addr.arpa.": true, "254.169.in-addr.arpa.": true,
		"2.0.192.in-addr.arpa.": true, "100.51.198.in-addr.arpa.": true, "113.0.203.in-addr.arpa.": true,
		"255.255.255.255.in-addr.arpa.": true,
		"d.f.ip6.arpa.":                 true, "8.e.f.ip6.arpa.": true, "9.e.f.ip6.arpa.": true,
		"a.e.f.ip6.arpa.": true, "b.e.f.ip6.arpa.": true, "8.b.d.0.1.0.0.2.ip6.arpa.": true,
		strings.Repeat("0.", 32) + "ip6.arpa.":        true, // ::
		"1." + strings.Repeat("0.", 31) + "ip6.arpa.": true, // ::1
	}
	for i := 16; i <= 31; i++ {
		z[fmt.Sprintf("%d.172.in-addr.arpa.", i)] = true
	}
	for i := 64; i <= 127; i++ {
		z[fmt.Sprintf("%d.100.in-addr.arpa.", i)] = true
	}
	return z
}()

// localZone returns the local zone a query for name (lower case, fully
// qualified) and qtype is in, or "". A single-label name is its own zone,
// but for a top-level domain's delegation and DNSSEC records.
func localZone(name string, qtype uint16) string {
	if name == "." {
		return ""
	}
	if strings.IndexByte(name, '.') == len(name)-1 {
		switch qtype {
		case dns.TypeNS, dns.TypeDS, dns.TypeSOA, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY,
			dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM, dns.TypeRRSIG:
			return "" // a top-level domain's own records
		}
		return name
	}
	for rest := name; rest != ""; {
		if localZones[rest] {
			return rest
		}
		_, rest, _ = strings.Cut(rest, ".")
	}
	return ""
}

// cgnat is the shared address space of RFC 6598, which carrier-grade NAT
// and VPN overlays (Tailscale's resolver is 100.100.100.100) use.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// onLocalNetwork says whether u's server is on a private, loopback,
// link-local or shared (RFC 6598) address (given as an address, not a
// name).
func onLocalNetwork(u Upstream) bool {
	var host string
	switch v := u.(type) {
	case *plainUpstream:
		host, _, _ = net.SplitHostPort(v.addr)
	case *dotUpstream:
		host, _, _ = net.SplitHostPort(v.addr)
	case *dohUpstream:
		if p, err := url.Parse(v.url); err == nil {
			host = p.Hostname()
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || cgnat.Contains(a)
}

// specialAnswer answers the names RFC 6761 tells resolvers to answer
// themselves: localhost and its subdomains (the loopback address; no
// data for other types) and invalid. (NXDOMAIN). ok is false for any
// other name.
func specialAnswer(req *dns.Msg, name string) (m *dns.Msg, ok bool) {
	q := req.Question[0]
	switch {
	case isLocalhost(name):
		m = newReply(req)
		m.Authoritative = true
		hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 3600}
		switch q.Qtype {
		case dns.TypeA:
			m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)}}
		case dns.TypeAAAA:
			m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.IPv6loopback}}
		default:
			m.Ns = []dns.RR{localSOA("localhost.")}
		}
		return m, true
	case isInvalid(name):
		return localNXDomain(req, "invalid."), true
	}
	return nil, false
}

// isSpecialName says whether specialAnswer answers name.
func isSpecialName(name string) bool { return isLocalhost(name) || isInvalid(name) }

func isLocalhost(name string) bool {
	return name == "localhost." || strings.HasSuffix(name, ".localhost.")
}

func isInvalid(name string) bool { return name == "invalid." || strings.HasSuffix(name, ".invalid.") }

// localZoneAnswer answers a query for name in local zone, here: the
// zones of RFC 6303 and the like are empty, so their apex exists (its SOA,
// no data otherwise) and every name under it is NXDOMAIN, as is a
// single-label name.
func localZoneAnswer(req *dns.Msg, name, zone string) *dns.Msg {
	if name != zone || !localZones[zone] {
		return localNXDomain(req, zone)
	}
	m := newReply(req)
	m.Authoritative = true
	if req.Question[0].Qtype == dns.TypeSOA {
		m.Answer = []dns.RR{localSOA(zone)}
	} else {
		m.Ns = []dns.RR{localSOA(zone)}
	}
	return m
}

// localNXDomain is NXDOMAIN for a name of zone, answered here.
func localNXDomain(req *dns.Msg, zone string) *dns.Msg {
	m := newReply(req)
	m.Authoritative = true
	m.Rcode = dns.RcodeNameError
	m.Ns = []dns.RR{localSOA(zone)}
	return m
}

// localSOA is the SOA of a zone answered here; its negative answers are
// cached for an hour.
func localSOA(zone string) dns.RR { return ownSOA(zone, LocalName, 3600) }
