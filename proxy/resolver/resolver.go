// Package resolver is pixelwall's DNS server for a home network: it blocks
// tracker domains (including trackers hidden behind a CNAME) with the same
// compiled lists as the proxy, and forwards and caches everything else.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// BlockMode is how a blocked name is answered.
type BlockMode string

const (
	// BlockNull answers A with 0.0.0.0 and AAAA with ::, other types with
	// no data: clients fail fast without retrying other resolvers.
	BlockNull BlockMode = "null"
	// BlockNXDomain says the name does not exist.
	BlockNXDomain BlockMode = "nxdomain"
	// BlockRefused refuses the query.
	BlockRefused BlockMode = "refused"
)

// Strategy is how several upstreams are used.
type Strategy string

const (
	// StrategyParallel asks every upstream at once and takes the first answer.
	StrategyParallel Strategy = "parallel"
	// StrategyFailover asks them in order, moving on when one fails. One
	// that failed is asked after the others for a while (5 s, doubling
	// with each further failure, up to 2 minutes).
	StrategyFailover Strategy = "failover"
)

// Options configure a Server. Zero values are defaults.
type Options struct {
	// Policy returns what is blocked right now (required); it is called
	// once a query, and the policy it returns is not kept.
	Policy    func() *blocklist.Policy
	Upstreams []Upstream // required
	Strategy  Strategy   // default StrategyParallel
	// Timeout bounds one upstream attempt (default 2 s); a query gives up
	// with SERVFAIL after twice that.
	Timeout time.Duration

	BlockMode BlockMode     // default BlockNull
	BlockTTL  time.Duration // TTL of block answers; default 10 s

	// AllowClients are the networks served; others get REFUSED, at most
	// RefusalRate times a second per address (and RefusalRate·10 for all
	// of them together), and nothing beyond: a refusal answers a spoofed
	// source as readily as a real one. Default: loopback only.
	AllowClients []netip.Prefix
	// RefusalRate is REFUSED answers per second per refused address
	// (default 5), with bursts of four times as many. Queries beyond it
	// are dropped unanswered and counted (Stats.RefusalsDropped).
	RefusalRate int
	// RateLimit is queries per second per client (default 300; negative
	// turns it off), with bursts of twice as many.
	RateLimit int

	CacheSize  int  // entries; default 20,000; negative turns the cache off
	NoPrefetch bool // do not refresh popular entries before they expire
	// NoServeStale turns off serving stale: by default, when no upstream
	// answers, an answer that expired less than a day ago is served, with
	// a TTL of 30 s and an Extended DNS Error "Stale Answer", and kept for
	// those 30 s before the upstreams are asked again (RFC 8767).
	NoServeStale bool

	// DomainUpstreams send queries for names at or under a domain to their
	// own upstreams instead of Upstreams, with the same strategy
	// (conditional forwarding): a router's local names, for example
	// ("lan", "168.192.in-addr.arpa"). The longest matching domain wins.
	// Keys are domain names in any case, with or without the final dot.
	DomainUpstreams map[string][]Upstream
	// LocalNames says whether names only a local network knows are
	// answered here or forwarded; default LocalNamesAuto.
	LocalNames LocalNames

	// LocalAddrs answer pixelwall.internal (A and AAAA).
	LocalAddrs []netip.Addr

	// Event receives every block and every refusal answered (not those
	// dropped beyond RefusalRate), and a "passed" event for every query
	// answered from upstream or cache. It must not block.
	Event func(Event)
	// ObserveUpstream, when set, is told how long each upstream exchange
	// took (for a latency histogram). It must not block.
	ObserveUpstream func(upstream string, took time.Duration, err error)
	Logger          *slog.Logger
	Now             func() time.Time
}

// LocalName is the resolver's own name.
const LocalName = "pixelwall.internal."

// Event is one decision for the block log.
type Event struct {
	Time      time.Time
	Kind      blocklog.Kind // blocked, refused, rate-limited, passed or paused
	Client    string
	Name      string // the query name, without the trailing dot
	Type      string // A, AAAA, HTTPS, …
	Rule      string
	List      string
	CloakedBy string // for CNAME-cloaked trackers: the tracker name in the chain
}

// Server answers DNS queries. It is a dns.Handler; Serve runs it on UDP and
// TCP listeners. Safe for concurrent use.
type Server struct {
	opts    Options
	cache   *cache
	limiter *limiter
	// refusals bounds REFUSED answers to clients outside AllowClients.
	refusals *limiter
	log      *slog.Logger
	now      func() time.Time

	flights singleflight.Group // upstream exchanges under way, by cacheKey.flightKey

	main    *upstreamSet
	domains map[string]*upstreamSet // DomainUpstreams, by lower-case FQDN
	// answerLocal: local names (see LocalNames) get NXDOMAIN here.
	answerLocal bool

	// fastUDP is set while Serve reads UDP itself (see udp_linux.go).
	fastUDP atomic.Bool

	queries, cacheHits, blocked, refused, refusalsDropped, limited, servfail, staleServed atomic.Uint64
}

// New builds a Server.
func New(opts Options) (*Server, error) {
	if opts.Policy == nil {
		return nil, errors.New("resolver: Options.Policy is required")
	}
	if len(opts.Upstreams) == 0 {
		return nil, errors.New("resolver: at least one upstream is required")
	}
	if err := opts.checkEnums(); err != nil {
		return nil, err
	}
	if opts.Strategy == "" {
		opts.Strategy = StrategyParallel
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.BlockMode == "" {
		opts.BlockMode = BlockNull
	}
	if opts.BlockTTL == 0 {
		opts.BlockTTL = 10 * time.Second
	}
	if len(opts.AllowClients) == 0 {
		opts.AllowClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = 300
	}
	if opts.RefusalRate <= 0 {
		opts.RefusalRate = 5
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 20000
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
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now,
		main: newUpstreamSet(opts.Upstreams)}
	for d, ups := range opts.DomainUpstreams {
		if len(ups) == 0 {
			return nil, fmt.Errorf("resolver: no upstreams for domain %q", d)
		}
		if s.domains == nil {
			s.domains = make(map[string]*upstreamSet)
		}
		s.domains[dns.Fqdn(strings.ToLower(d))] = newUpstreamSet(ups)
	}
	switch opts.LocalNames {
	case "", LocalNamesAuto:
		s.answerLocal = !slices.ContainsFunc(opts.Upstreams, onLocalNetwork)
	case LocalNamesAnswer:
		s.answerLocal = true
	case LocalNamesForward:
	default:
		return nil, fmt.Errorf("resolver: LocalNames %q: want auto, answer or forward", opts.LocalNames)
	}
	if opts.CacheSize > 0 {
		s.cache = newCache(opts.CacheSize)
	}
	if opts.RateLimit > 0 {
		s.limiter = newLimiter(float64(opts.RateLimit), 2*opts.RateLimit)
	}
	s.refusals = newLimiter(float64(opts.RefusalRate), 4*opts.RefusalRate).
		withOverall(float64(10*opts.RefusalRate), 40*opts.RefusalRate)
	return s, nil
}

// Stats are counters since start.
type Stats struct {
	Queries, CacheHits, Blocked, Refused, RateLimited, ServFail, Stale uint64
	// RefusalsDropped are queries from clients outside AllowClients that
	// got no answer at all (beyond Options.RefusalRate); Refused counts
	// those answered.
	RefusalsDropped uint64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Queries: s.queries.Load(), CacheHits: s.cacheHits.Load(), Blocked: s.blocked.Load(),
		Refused: s.refused.Load(), RateLimited: s.limited.Load(), ServFail: s.servfail.Load(),
		Stale: s.staleServed.Load(), RefusalsDropped: s.refusalsDropped.Load()}
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	s.serve(w, req, addrOf(w.RemoteAddr()), udp, fastSlow)
}

// serve answers req from client. pre is what the UDP fast path has done
// already: fastSlow nothing; fastChecked counted the query and let the
// client through the ACL and the rate limit; fastRefusal counted it and
// took a refusal token for a client outside the ACL.
func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg, client netip.Addr, udp bool, pre fastResult) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("resolver: panic answering a query", "panic", r)
		}
	}()
	if pre == fastRefusal {
		s.refuse(w, req, client, udp)
		return
	}
	if pre != fastChecked {
		s.queries.Add(1)
		if !s.clientAllowed(client) {
			if !s.refusals.allow(client, s.now()) {
				s.refusalsDropped.Add(1)
				if !udp {
					_ = w.Close() // nothing more for this connection either
				}
				return
			}
			s.refuse(w, req, client, udp)
			return
		}
		if s.limiter != nil && !s.limiter.allow(client, s.now()) {
			s.limited.Add(1)
			s.emit(Event{Kind: "rate-limited", Client: client.String(), Name: qname(req)})
			if udp {
				return // dropping is the only answer that cannot be amplified
			}
			s.write(w, req, refusal(req, dns.ExtendedErrorCodeProhibited, "rate limited"), udp)
			return
		}
	}
	resp, src := s.resolve(context.Background(), req, client)
	s.write(w, req, resp, udp)
	if src.msg != nil && udp && s.fastUDP.Load() {
		s.learn(req, src)
	}
}

// refuse answers REFUSED to a client outside the ACL that is within the
// refusal rate.
func (s *Server) refuse(w dns.ResponseWriter, req *dns.Msg, client netip.Addr, udp bool) {
	s.refused.Add(1)
	s.emit(Event{Kind: "refused", Client: client.String(), Name: qname(req)})
	s.write(w, req, refusal(req, dns.ExtendedErrorCodeProhibited, "client not allowed"), udp)
}

// Resolve answers a query as ServeDNS does, without the client checks.
func (s *Server) Resolve(ctx context.Context, req *dns.Msg, client netip.Addr) *dns.Msg {
	resp, _ := s.resolve(ctx, req, client)
	return resp
}

// source is the cached upstream answer a reply was made from, as stored
// (TTLs not yet decayed), for the UDP fast path to keep packed, and the
// generation of the policy its CNAME chain was checked under.
type source struct {
	key cacheKey
	msg *dns.Msg
	gen uint64
}

// resolve is Resolve, also telling which cached answer the reply was made
// from: none for blocks, local answers, failures and overridden names
// (whose answer is not everyone's).
func (s *Server) resolve(ctx context.Context, req *dns.Msg, client netip.Addr) (*dns.Msg, source) {
	if req.Opcode != dns.OpcodeQuery {
		return rcode(req, dns.RcodeNotImplemented), source{}
	}
	if len(req.Question) != 1 || req.Response {
		return rcode(req, dns.RcodeFormatError), source{}
	}
	// EDNS (RFC 6891 section 6.1.1 and 6.1.3): more than one OPT is a
	// format error, a version above ours (0) gets BADVERS. The UDP fast
	// path passes both on to here (parseQuery takes one OPT of version 0).
	if opts := countOPT(req); opts > 1 {
		m := new(dns.Msg) // without an OPT: which of the client's would it answer?
		m.SetRcode(req, dns.RcodeFormatError)
		m.RecursionAvailable = true
		return m, source{}
	} else if opts == 1 && req.IsEdns0().Version() != 0 {
		return rcode(req, dns.RcodeBadVers), source{}
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if q.Qclass != dns.ClassINET {
		return rcode(req, dns.RcodeNotImplemented), source{}
	}
	if q.Qtype == dns.TypeANY {
		return anyAnswer(req), source{} // RFC 8482
	}
	pol := s.opts.Policy()
	host := strings.TrimSuffix(name, ".")
	v := decide(pol, client, name)
	switch v.kind {
	case verdictOwn:
		return s.localAnswer(req), source{}
	case verdictSpecial:
		m, _ := specialAnswer(req, name)
		return m, source{}
	case verdictBlock:
		return s.blockAnswer(req, client, host, v.d, "", v.mode), source{}
	}
	set := s.upstreamsFor(name, q.Qtype)
	if set == nil {
		s.emit(passedEvent(v, Event{Client: client.String(), Name: host, Type: dns.TypeToString[q.Qtype]}))
		return localZoneAnswer(req, name, localZone(name, q.Qtype)), source{}
	}
	resp, src, err := s.lookup(ctx, req, name, q, set)
	if err != nil {
		s.servfail.Add(1)
		s.log.Debug("resolver: upstreams failed", "name", host, "err", err)
		return servfail(req, err), source{}
	}
	// CNAME uncloaking: a tracker hidden behind a first-party name is
	// blocked like the tracker itself, unless the user allowed the name.
	if target, d, ok := cloaked(pol.MatcherFor(client), resp); ok {
		if _, allowed := pol.Allowed(client, host, ""); !allowed && !pol.Paused(client, host, "") {
			return s.blockAnswer(req, client, host, d, target, groupBlockMode(pol, client)), source{}
		}
		src = source{} // this client's answer is not everyone's
	}
	s.emit(passedEvent(v, Event{Client: client.String(), Name: host, Type: dns.TypeToString[q.Qtype]}))
	src.gen = pol.Generation()
	return reply(req, resp), src
}

// countOPT counts m's OPT records.
func countOPT(m *dns.Msg) int {
	n := 0
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	return n
}

func (s *Server) clientAllowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range s.opts.AllowClients {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	s.opts.Event(e)
}

// write sends resp, truncated to what a UDP client can take.
func (s *Server) write(w dns.ResponseWriter, req, resp *dns.Msg, udp bool) {
	if udp {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = max(int(o.UDPSize()), dns.MinMsgSize)
		}
		resp.Truncate(size)
	}
	_ = w.WriteMsg(resp)
}

func addrOf(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func qname(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(m.Question[0].Name), ".")
}
