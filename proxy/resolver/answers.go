package resolver

import (
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist"
)

// ednsSize is the UDP payload size we advertise upstream and to clients
// (the DNS flag day 2020 recommendation).
const ednsSize = 1232

// newReply starts an answer to req, echoing its EDNS0 (UDP size, DO bit)
// when it had one.
func newReply(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	m.Compress = true
	if o := req.IsEdns0(); o != nil {
		m.SetEdns0(ednsSize, o.Do())
	}
	return m
}

// withEDE adds an Extended DNS Error (RFC 8914) when the client speaks EDNS0.
func withEDE(m *dns.Msg, code uint16, text string) *dns.Msg {
	if o := m.IsEdns0(); o != nil {
		o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: code, ExtraText: text})
	}
	return m
}

func rcode(req *dns.Msg, code int) *dns.Msg {
	m := newReply(req)
	m.Rcode = code
	return m
}

func refusal(req *dns.Msg, ede uint16, text string) *dns.Msg {
	return withEDE(rcode(req, dns.RcodeRefused), ede, text)
}

func servfail(req *dns.Msg, err error) *dns.Msg {
	return withEDE(rcode(req, dns.RcodeServerFailure), dns.ExtendedErrorCodeNetworkError, "upstreams failed")
}

// anyAnswer answers ANY minimally, as RFC 8482 allows: one synthesized
// HINFO record, so that ANY is useless for amplification.
func anyAnswer(req *dns.Msg) *dns.Msg {
	m := newReply(req)
	m.Answer = []dns.RR{&dns.HINFO{
		Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: 3600},
		Cpu: "RFC8482",
	}}
	return m
}

// localAnswer answers pixelwall.internal with this host's addresses.
func (s *Server) localAnswer(req *dns.Msg) *dns.Msg {
	m := newReply(req)
	m.Authoritative = true
	q := req.Question[0]
	for _, a := range s.opts.LocalAddrs {
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 60}
		switch {
		case q.Qtype == dns.TypeA && a.Is4():
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IP(a.AsSlice())})
		case q.Qtype == dns.TypeAAAA && a.Is6():
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())})
		}
	}
	return m
}

// blockAnswer answers a blocked name per the block mode (the client's
// group's, else the server's) and tells the
// client why with an Extended DNS Error: "Filtered" when we answer with a
// null address or no data, "Blocked" for NXDOMAIN and REFUSED.
func (s *Server) blockAnswer(req *dns.Msg, client netip.Addr, host string, d blocklist.Decision, cloakedBy string, mode BlockMode) *dns.Msg {
	s.blocked.Add(1)
	q := req.Question[0]
	s.emit(Event{Kind: "blocked", Client: client.String(), Name: host, Type: dns.TypeToString[q.Qtype],
		Rule: d.Rule, List: d.List, CloakedBy: cloakedBy})
	text := d.Rule + " (" + d.List + ")"
	if cloakedBy != "" {
		text = "CNAME " + cloakedBy + ": " + text
	}
	ttl := uint32(s.opts.BlockTTL / time.Second)
	m := newReply(req)
	if mode == "" {
		mode = s.opts.BlockMode
	}
	switch mode {
	case BlockRefused:
		m.Rcode = dns.RcodeRefused
		return withEDE(m, dns.ExtendedErrorCodeBlocked, text)
	case BlockNXDomain:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{blockSOA(q.Name, ttl)}
		return withEDE(m, dns.ExtendedErrorCodeBlocked, text)
	}
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: ttl}
	switch q.Qtype {
	case dns.TypeA:
		m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: net.IPv4zero.To4()}}
	case dns.TypeAAAA:
		m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.IPv6zero}}
	default: // HTTPS, SVCB, MX, …: no data
		m.Ns = []dns.RR{blockSOA(q.Name, ttl)}
	}
	return withEDE(m, dns.ExtendedErrorCodeFiltered, text)
}

// soaTimers are the serial, refresh, retry and expire fields of the SOA
// records pixelwall makes up; clients only use the TTL and MINIMUM.
var soaTimers = [4]uint32{1, 1800, 900, 604800}

// ownSOA is an SOA record pixelwall makes up for a negative answer about
// name (a blocked name, a local zone), naming mname as its server, so that
// clients cache the answer for ttl seconds (RFC 2308).
func ownSOA(name, mname string, ttl uint32) dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:  mname, Mbox: "hostmaster." + LocalName,
		Serial: soaTimers[0], Refresh: soaTimers[1], Retry: soaTimers[2], Expire: soaTimers[3], Minttl: ttl,
	}
}

// blockSOA is the SOA of a blocked negative answer, cached for the block TTL.
func blockSOA(name string, ttl uint32) dns.RR { return ownSOA(name, "blocked."+LocalName, ttl) }

// reply turns an upstream answer into the answer to req: the client's ID,
// question (with its letter case) and EDNS0, the upstream's data.
func reply(req, up *dns.Msg) *dns.Msg {
	m := newReply(req)
	m.Rcode = up.Rcode
	m.Authoritative = false
	m.AuthenticatedData = up.AuthenticatedData && req.IsEdns0() != nil && req.IsEdns0().Do()
	m.Answer, m.Ns = up.Answer, up.Ns
	for _, rr := range up.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			m.Extra = append(m.Extra, rr)
		}
	}
	if o := m.IsEdns0(); o != nil {
		// Keep the upstream's own Extended DNS Errors (e.g. DNSSEC bogus).
		if uo := up.IsEdns0(); uo != nil {
			for _, opt := range uo.Option {
				if ede, ok := opt.(*dns.EDNS0_EDE); ok {
					o.Option = append(o.Option, ede)
				}
			}
		}
	}
	return m
}

// upstreamQuery is req as sent upstream: a fresh ID, recursion desired,
// our EDNS0 size with the client's DO bit, and no client subnet (ECS) — the
// upstream learns nothing about the client's network.
func upstreamQuery(req *dns.Msg) *dns.Msg {
	q := new(dns.Msg)
	q.Id = dns.Id()
	q.RecursionDesired = true
	q.CheckingDisabled = req.CheckingDisabled
	q.Question = []dns.Question{{Name: strings.ToLower(req.Question[0].Name), Qtype: req.Question[0].Qtype, Qclass: req.Question[0].Qclass}}
	do := false
	if o := req.IsEdns0(); o != nil {
		do = o.Do()
	}
	q.SetEdns0(ednsSize, do)
	return q
}
