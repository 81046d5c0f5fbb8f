package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// stub is a programmable upstream DNS server on loopback.
type stub struct {
	mu      sync.Mutex
	queries map[string]int // "name type net" → count
	seenECS bool
	seenDO  bool
	delay   time.Duration
	rcode   int
	// truncateUDP answers UDP queries with TC set and nothing else.
	truncateUDP bool
	addr        string
}

func (st *stub) count(name, typ, network string) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.queries[name+" "+typ+" "+network]
}

// set changes the stub's behaviour under its lock.
func (st *stub) set(f func(*stub)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(st)
}

func (st *stub) total() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, c := range st.queries {
		n += c
	}
	return n
}

func (st *stub) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	qq := q.Question[0]
	st.mu.Lock()
	st.queries[qq.Name+" "+dns.TypeToString[qq.Qtype]+" "+network]++
	if o := q.IsEdns0(); o != nil {
		st.seenDO = st.seenDO || o.Do()
		for _, opt := range o.Option {
			if _, ok := opt.(*dns.EDNS0_SUBNET); ok {
				st.seenECS = true
			}
		}
	}
	delay, rc, trunc := st.delay, st.rcode, st.truncateUDP
	st.mu.Unlock()
	time.Sleep(delay)
	m := new(dns.Msg)
	m.SetReply(q)
	m.Rcode = rc
	if trunc && network == "udp" {
		m.Truncated = true
		w.WriteMsg(m)
		return
	}
	hdr := func(name string, t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	switch {
	case strings.HasPrefix(qq.Name, "nx."):
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{&dns.SOA{Hdr: hdr("test.", dns.TypeSOA, 3600), Ns: "ns.test.", Mbox: "h.test.", Minttl: 60}}
	case strings.HasPrefix(qq.Name, "cloaked."):
		m.Answer = []dns.RR{
			&dns.CNAME{Hdr: hdr(qq.Name, dns.TypeCNAME, 300), Target: "edge.metrics.tracker.test."},
			&dns.A{Hdr: hdr("edge.metrics.tracker.test.", dns.TypeA, 300), A: net.IPv4(192, 0, 2, 7)},
		}
	case strings.HasPrefix(qq.Name, "big."):
		for i := range 120 {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(qq.Name, dns.TypeA, 300), A: net.IPv4(192, 0, 2, byte(i))})
		}
	case qq.Qtype == dns.TypeA && rc == dns.RcodeSuccess:
		m.Answer = []dns.RR{&dns.A{Hdr: hdr(qq.Name, dns.TypeA, 300), A: net.IPv4(192, 0, 2, 1)}}
	}
	if network == "udp" {
		size := dns.MinMsgSize
		if o := q.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size) // as a real server does
	}
	w.WriteMsg(m)
}

func startStub(t *testing.T) *stub {
	t.Helper()
	st := &stub{queries: make(map[string]int)}
	// Listen finds a port free for both UDP and TCP.
	pc, tl, err := (&Server{}).Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	us, ts := &dns.Server{PacketConn: pc, Handler: st}, &dns.Server{Listener: tl, Handler: st}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() })
	st.addr = pc.LocalAddr().String()
	return st
}

// testServer runs pixelwall's resolver on loopback in front of upstreams.
type testServer struct {
	*Server
	*record
	lists *blocklist.Service
	addr  string
}

// record is a settable clock for a test Server and the events it emitted.
type record struct {
	mu     sync.Mutex
	clock  time.Time
	events []Event
}

func newRecord() *record { return &record{clock: time.Unix(1_800_000_000, 0)} }

// wire makes opts' clock and event sink r's.
func (r *record) wire(opts *Options) {
	opts.Event = func(e Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	}
	opts.Now = func() time.Time {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.clock
	}
}

func (r *record) advance(d time.Duration) {
	r.mu.Lock()
	r.clock = r.clock.Add(d)
	r.mu.Unlock()
}

func (r *record) eventsOf(kind blocklog.Kind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// lastEvent returns the last event, with its time cleared.
func (r *record) lastEvent() Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		return Event{}
	}
	e := r.events[len(r.events)-1]
	e.Time = time.Time{}
	return e
}

const testRules = "||tracker.test^\n@@||good.tracker.test^\n0.0.0.0 ads.test\n||page-only.test^$third-party\n"

func newTestServer(t *testing.T, rules string, ups []Upstream, tweak func(*Options)) *testServer {
	t.Helper()
	ts := &testServer{record: newRecord(), lists: testLists(t, rules)}
	opts := Options{
		Policy:     ts.lists.Policy,
		Upstreams:  ups,
		Timeout:    300 * time.Millisecond,
		LocalAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
	}
	ts.wire(&opts)
	if tweak != nil {
		tweak(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = s
	udp, tcp, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, udp, tcp); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	ts.addr = udp.LocalAddr().String()
	return ts
}

func plain(t *testing.T, addr string) Upstream {
	t.Helper()
	return upstreamAt(t, addr, 300*time.Millisecond)
}

// upstreamAt is the upstream spec names (an address, tcp://, …) with an
// exchange timeout.
func upstreamAt(t *testing.T, spec string, timeout time.Duration) Upstream {
	t.Helper()
	u, err := ParseUpstream(spec, UpstreamOptions{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// query asks the server over network (udp or tcp), with EDNS0.
func query(t *testing.T, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

func ede(m *dns.Msg) (uint16, string, bool) {
	if o := m.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				return e.InfoCode, e.ExtraText, true
			}
		}
	}
	return 0, "", false
}

func TestBlockedNames(t *testing.T) {
	up := startStub(t)
	tests := []struct {
		mode    BlockMode
		name    string
		qtype   uint16
		rcode   int
		answer  string // the answer's data, "" for none
		edeCode uint16
	}{
		{BlockNull, "x.tracker.test", dns.TypeA, dns.RcodeSuccess, "0.0.0.0", dns.ExtendedErrorCodeFiltered},
		{BlockNull, "tracker.test", dns.TypeAAAA, dns.RcodeSuccess, "::", dns.ExtendedErrorCodeFiltered},
		{BlockNull, "tracker.test", dns.TypeHTTPS, dns.RcodeSuccess, "", dns.ExtendedErrorCodeFiltered},
		{BlockNull, "ads.test", dns.TypeMX, dns.RcodeSuccess, "", dns.ExtendedErrorCodeFiltered},
		{BlockNXDomain, "tracker.test", dns.TypeA, dns.RcodeNameError, "", dns.ExtendedErrorCodeBlocked},
		{BlockRefused, "tracker.test", dns.TypeSVCB, dns.RcodeRefused, "", dns.ExtendedErrorCodeBlocked},
	}
	for _, tc := range tests {
		t.Run(string(tc.mode)+" "+tc.name+" "+dns.TypeToString[tc.qtype], func(t *testing.T) {
			s := newTestServer(t, testRules, []Upstream{plain(t, up.addr)}, func(o *Options) { o.BlockMode = tc.mode; o.BlockTTL = 42 * time.Second })
			r := query(t, s.addr, "udp", tc.name, tc.qtype)
			if r.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			got := ""
			if len(r.Answer) == 1 {
				got = strings.Fields(r.Answer[0].String())[4]
				if r.Answer[0].Header().Ttl != 42 {
					t.Errorf("TTL %d, want 42", r.Answer[0].Header().Ttl)
				}
			}
			if got != tc.answer {
				t.Errorf("answer %q, want %q (%v)", got, tc.answer, r.Answer)
			}
			if code, text, ok := ede(r); !ok || code != tc.edeCode || !strings.Contains(text, "(test)") {
				t.Errorf("EDE %d %q %v, want %d naming the list", code, text, ok, tc.edeCode)
			}
			if up.total() != 0 {
				t.Errorf("upstream asked %d times for a blocked name", up.total())
			}
		})
	}
}

func TestAllowedAndRuleOptions(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, testRules, []Upstream{plain(t, up.addr)}, nil)
	for _, name := range []string{"good.tracker.test", "www.good.tracker.test", "page-only.test", "news.test"} {
		r := query(t, s.addr, "udp", name, dns.TypeA)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Errorf("%s: %v, want the upstream's answer", name, r.Answer)
		}
	}
	if up.count("good.tracker.test.", "A", "udp") != 1 {
		t.Error("allowlisted name not forwarded")
	}
}

func TestCNAMECloakedTracker(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, testRules, []Upstream{plain(t, up.addr)}, nil)
	r := query(t, s.addr, "udp", "cloaked.news.test", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "0.0.0.0" {
		t.Fatalf("answer %v, want the blocked 0.0.0.0", r.Answer)
	}
	if _, text, _ := ede(r); !strings.Contains(text, "CNAME edge.metrics.tracker.test") {
		t.Errorf("EDE text %q, want the cloaked target", text)
	}
	ev := s.eventsOf("blocked")
	if len(ev) != 1 || ev[0].Name != "cloaked.news.test" || ev[0].CloakedBy != "edge.metrics.tracker.test" || ev[0].Rule != "||tracker.test^" {
		t.Errorf("events %+v", ev)
	}
}

func TestTruncatedUpstreamFallsBackToTCP(t *testing.T) {
	up := startStub(t)
	up.set(func(st *stub) { st.truncateUDP = true })
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, nil)
	r := query(t, s.addr, "udp", "news.test", dns.TypeA)
	if len(r.Answer) != 1 {
		t.Fatalf("answer %v", r.Answer)
	}
	if up.count("news.test.", "A", "udp") != 1 || up.count("news.test.", "A", "tcp") != 1 {
		t.Errorf("upstream queries udp %d tcp %d, want 1 and 1", up.count("news.test.", "A", "udp"), up.count("news.test.", "A", "tcp"))
	}
	// A big answer is truncated for a UDP client and whole over TCP.
	up.set(func(st *stub) { st.truncateUDP = false })
	if r := query(t, s.addr, "udp", "big.news.test", dns.TypeA); !r.Truncated || len(r.Answer) == 120 {
		t.Errorf("120-record answer over UDP: truncated %v with %d records", r.Truncated, len(r.Answer))
	}
	if r := query(t, s.addr, "tcp", "big.news.test", dns.TypeA); len(r.Answer) != 120 {
		t.Errorf("over TCP got %d records, want 120", len(r.Answer))
	}
	if up.count("big.news.test.", "A", "tcp") != 1 {
		t.Error("the upstream's truncated answer was not retried over TCP")
	}
}

func TestUpstreamTimeoutIsQuickServfail(t *testing.T) {
	up := startStub(t)
	up.set(func(st *stub) { st.delay = 2 * time.Second })
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, func(o *Options) { o.Timeout = 150 * time.Millisecond })
	start := time.Now()
	r := query(t, s.addr, "udp", "slow.test", dns.TypeA)
	if r.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("SERVFAIL took %v", took)
	}
	if code, _, ok := ede(r); !ok || code != dns.ExtendedErrorCodeNetworkError {
		t.Errorf("EDE %d %v", code, ok)
	}
}

func TestCacheHitTTLDecayAndNegative(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, func(o *Options) { o.NoPrefetch = true })
	query(t, s.addr, "udp", "news.test", dns.TypeA)
	s.advance(100 * time.Second)
	r := query(t, s.addr, "udp", "NEWS.test", dns.TypeA) // names are case-insensitive
	if n := up.count("news.test.", "A", "udp"); n != 1 {
		t.Errorf("upstream asked %d times, want 1 (second answer from cache)", n)
	}
	if ttl := r.Answer[0].Header().Ttl; ttl != 200 {
		t.Errorf("cached TTL %d, want 300-100=200", ttl)
	}
	if r.Question[0].Name != "NEWS.test." {
		t.Errorf("question %q: the client's letter case must come back", r.Question[0].Name)
	}
	s.advance(201 * time.Second)
	query(t, s.addr, "udp", "news.test", dns.TypeA)
	if n := up.count("news.test.", "A", "udp"); n != 2 {
		t.Errorf("after expiry upstream asked %d times, want 2", n)
	}
	// NXDOMAIN is cached for min(SOA TTL, SOA MINIMUM) = 60 s.
	query(t, s.addr, "udp", "nx.test", dns.TypeA)
	s.advance(59 * time.Second)
	if r := query(t, s.addr, "udp", "nx.test", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	s.advance(2 * time.Second)
	query(t, s.addr, "udp", "nx.test", dns.TypeA)
	if n := up.count("nx.test.", "A", "udp"); n != 2 {
		t.Errorf("NXDOMAIN upstream queries %d, want 2 (cached for 60 s)", n)
	}
	if st := s.Stats(); st.CacheHits != 2 {
		t.Errorf("cache hits %d, want 2", st.CacheHits)
	}
}

// When no upstream answers, an answer that expired lately is served with
// a 30 s TTL and EDE 3, kept those 30 s, and served so for at most a day
// after it expired (RFC 8767).
func TestServeStale(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, func(o *Options) { o.NoPrefetch = true })
	query(t, s.addr, "udp", "stale.test", dns.TypeA) // TTL 300
	up.set(func(st *stub) { st.rcode = dns.RcodeServerFailure })
	s.advance(301 * time.Second)

	staleAnswer := func(when string) {
		t.Helper()
		r := query(t, s.addr, "udp", "stale.test", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Ttl > 30 {
			t.Fatalf("%s: %s %v, want the old answer with a TTL of at most 30", when, dns.RcodeToString[r.Rcode], r.Answer)
		}
		if code, _, ok := ede(r); !ok || code != dns.ExtendedErrorCodeStaleAnswer {
			t.Errorf("%s: EDE %d %v, want 3 (Stale Answer)", when, code, ok)
		}
	}
	staleAnswer("upstream failing after expiry")
	if n := up.count("stale.test.", "A", "udp"); n != 2 {
		t.Errorf("upstream asked %d times, want 2 (once fresh, once failing)", n)
	}
	s.advance(20 * time.Second)
	staleAnswer("20 s later")
	if n := up.count("stale.test.", "A", "udp"); n != 2 {
		t.Errorf("upstream asked %d times within the 30 s, want still 2", n)
	}
	s.advance(11 * time.Second)
	staleAnswer("after the 30 s")
	if n := up.count("stale.test.", "A", "udp"); n != 3 {
		t.Errorf("upstream asked %d times after the 30 s, want 3", n)
	}
	if st := s.Stats(); st.Stale != 2 || st.ServFail != 0 {
		t.Errorf("stats %+v, want 2 stale answers and no SERVFAIL", st)
	}
	// Served stale again and again, it carries one EDE, not one a round.
	for range 5 {
		s.advance(31 * time.Second)
		staleAnswer("another round")
	}
	r := query(t, s.addr, "udp", "stale.test", dns.TypeA)
	edes := 0
	for _, opt := range r.IsEdns0().Option {
		if _, ok := opt.(*dns.EDNS0_EDE); ok {
			edes++
		}
	}
	if edes != 1 {
		t.Errorf("%d EDE options after 7 rounds served stale, want 1", edes)
	}
	// Queries that wait on the same failed exchange all get the stale
	// answer, not only the first.
	up.set(func(st *stub) { st.rcode = dns.RcodeSuccess })
	query(t, s.addr, "udp", "many.test", dns.TypeA)
	s.advance(301 * time.Second)
	up.set(func(st *stub) { st.rcode = dns.RcodeServerFailure; st.delay = 50 * time.Millisecond })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := query(t, s.addr, "udp", "many.test", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("concurrent query %d: %s %v, want the stale answer", i, dns.RcodeToString[r.Rcode], r.Answer)
			}
		}()
	}
	wg.Wait()
	up.set(func(st *stub) { st.delay = 0 })
	// A day after it expired, it is gone: SERVFAIL.
	s.advance(24 * time.Hour)
	if r := query(t, s.addr, "udp", "stale.test", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("a day after expiry: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	// The upstream back, the fresh answer replaces the stale one.
	up.set(func(st *stub) { st.rcode = dns.RcodeSuccess })
	if r := query(t, s.addr, "udp", "stale.test", dns.TypeA); r.Answer[0].Header().Ttl != 300 {
		t.Errorf("upstream back: TTL %d, want a fresh 300", r.Answer[0].Header().Ttl)
	}
	if _, _, ok := ede(query(t, s.addr, "udp", "stale.test", dns.TypeA)); ok {
		t.Error("a fresh answer from the cache still carries an EDE")
	}

	// Turned off: SERVFAIL at once.
	off := newTestServer(t, "", []Upstream{plain(t, up.addr)}, func(o *Options) { o.NoPrefetch, o.NoServeStale = true, true })
	query(t, off.addr, "udp", "off.test", dns.TypeA)
	up.set(func(st *stub) { st.rcode = dns.RcodeServerFailure })
	off.advance(301 * time.Second)
	if r := query(t, off.addr, "udp", "off.test", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("NoServeStale: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

func TestPrefetchRefreshesPopularEntries(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, nil)
	for range 4 {
		query(t, s.addr, "udp", "popular.test", dns.TypeA)
	}
	s.advance(280 * time.Second) // 20 s of 300 left: under 10%
	query(t, s.addr, "udp", "popular.test", dns.TypeA)
	deadline := time.Now().Add(2 * time.Second)
	for up.count("popular.test.", "A", "udp") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := up.count("popular.test.", "A", "udp"); n != 2 {
		t.Errorf("upstream asked %d times, want 2 (a prefetch)", n)
	}
}

func TestECSStrippedAndDOPassed(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, nil)
	m := new(dns.Msg)
	m.SetQuestion("ecs.test.", dns.TypeA)
	m.SetEdns0(1232, true)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(198, 51, 100, 0)})
	r, _, err := (&dns.Client{}).Exchange(m, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	var ecs, do bool
	up.set(func(st *stub) { ecs, do = st.seenECS, st.seenDO })
	if ecs {
		t.Error("client subnet sent upstream")
	}
	if !do {
		t.Error("DO bit not passed upstream")
	}
	if o := r.IsEdns0(); o == nil || !o.Do() {
		t.Error("answer lacks EDNS0 with DO")
	}
}

func TestRateLimit(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, func(o *Options) { o.RateLimit = 5 }) // burst 10
	refused := 0
	for range 15 {
		if r := query(t, s.addr, "tcp", "x.test", dns.TypeA); r.Rcode == dns.RcodeRefused {
			refused++
		}
	}
	if refused != 5 {
		t.Errorf("%d of 15 queries refused, want 5 (burst of 10, clock stopped)", refused)
	}
	// Over UDP an over-limit query gets no answer at all.
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("x.test.", dns.TypeA)
	if _, _, err := c.Exchange(m, s.addr); err == nil {
		t.Error("over-limit UDP query answered")
	}
	s.advance(time.Second) // five more tokens
	if r := query(t, s.addr, "udp", "x.test", dns.TypeA); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after refill: %s", dns.RcodeToString[r.Rcode])
	}
	if s.Stats().RateLimited != 6 {
		t.Errorf("rate-limited count %d, want 6", s.Stats().RateLimited)
	}
}

func TestClientsOutsideACLRefused(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, func(o *Options) {
		o.AllowClients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	r := query(t, s.addr, "udp", "x.test", dns.TypeA)
	if r.Rcode != dns.RcodeRefused {
		t.Errorf("rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	if code, _, _ := ede(r); code != dns.ExtendedErrorCodeProhibited {
		t.Errorf("EDE %d, want Prohibited", code)
	}
	if up.total() != 0 || len(s.eventsOf("refused")) != 1 {
		t.Errorf("upstream queries %d, refused events %d", up.total(), len(s.eventsOf("refused")))
	}
}

func TestANYAndLocalName(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, nil)
	r := query(t, s.addr, "udp", "example.test", dns.TypeANY)
	if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeHINFO {
		t.Errorf("ANY: %v, want one HINFO (RFC 8482)", r.Answer)
	}
	r = query(t, s.addr, "udp", "pixelwall.internal", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" || !r.Authoritative {
		t.Errorf("pixelwall.internal: %v", r.Answer)
	}
	if up.total() != 0 {
		t.Errorf("upstream asked %d times", up.total())
	}
}

func TestStrategies(t *testing.T) {
	slow, fast, broken := startStub(t), startStub(t), startStub(t)
	slow.set(func(st *stub) { st.delay = 250 * time.Millisecond })
	broken.set(func(st *stub) { st.rcode = dns.RcodeServerFailure })
	t.Run("parallel takes the fastest", func(t *testing.T) {
		s := newTestServer(t, "", []Upstream{plain(t, slow.addr), plain(t, fast.addr)}, func(o *Options) { o.Timeout = time.Second })
		start := time.Now()
		query(t, s.addr, "udp", "p.test", dns.TypeA)
		if took := time.Since(start); took > 200*time.Millisecond {
			t.Errorf("took %v; the fast upstream answers at once", took)
		}
	})
	t.Run("failover skips a failing upstream", func(t *testing.T) {
		s := newTestServer(t, "", []Upstream{plain(t, broken.addr), plain(t, fast.addr)}, func(o *Options) { o.Strategy = StrategyFailover })
		r := query(t, s.addr, "udp", "f.test", dns.TypeA)
		if len(r.Answer) != 1 || broken.count("f.test.", "A", "udp") != 1 || fast.count("f.test.", "A", "udp") != 1 {
			t.Errorf("answer %v; broken %d fast %d", r.Answer, broken.count("f.test.", "A", "udp"), fast.count("f.test.", "A", "udp"))
		}
	})
}

// With failover, an upstream that does not answer is asked after the
// others for a while: a dead first upstream costs one timeout, not one per
// query. One that answers SERVFAIL (for a name) is up and keeps its place.
func TestFailoverRestsFailingUpstream(t *testing.T) {
	slow, servfail, good := startStub(t), startStub(t), startStub(t)
	slow.set(func(st *stub) { st.delay = 400 * time.Millisecond }) // over the 300ms timeout
	servfail.set(func(st *stub) { st.rcode = dns.RcodeServerFailure })
	s := newTestServer(t, "", []Upstream{plain(t, slow.addr), plain(t, servfail.addr), plain(t, good.addr)},
		func(o *Options) { o.Strategy = StrategyFailover })

	ask := func(name string) {
		t.Helper()
		if r := query(t, s.addr, "udp", name, dns.TypeA); len(r.Answer) != 1 {
			t.Fatalf("%s: %v", name, r)
		}
	}
	// Five queries at once, before any failure: they all time out on the
	// first upstream, which counts once (a 5s rest, not 80s).
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); ask(fmt.Sprintf("c%d.test", i)) }()
	}
	wg.Wait()
	for i := 1; i <= 5; i++ {
		ask(fmt.Sprintf("q%d.test", i))
	}
	if n := slow.total(); n != 5 {
		t.Errorf("the slow upstream was asked %d times, want 5 (the concurrent ones, then it rests)", n)
	}
	if n := servfail.total(); n != 10 {
		t.Errorf("the SERVFAIL upstream was asked %d times in 10 queries, want 10: it is up", n)
	}
	if n := good.total(); n != 10 {
		t.Errorf("the good upstream answered %d of 10 queries", n)
	}

	// After 5s it is asked first again; it answers now, and rests no more.
	slow.set(func(st *stub) { st.delay = 0 })
	s.advance(6 * time.Second)
	ask("q6.test")
	s.advance(time.Second)
	ask("q7.test")
	if a, b := slow.count("q6.test.", "A", "udp"), slow.count("q7.test.", "A", "udp"); a != 1 || b != 1 {
		t.Errorf("the slow upstream, answering again, was asked %d and %d times for q6 and q7, want 1 and 1", a, b)
	}
	if n := good.count("q7.test.", "A", "udp"); n != 0 {
		t.Errorf("the last upstream was asked for q7 %d times; the first answered", n)
	}
}

func TestRestFor(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second, 5: 80 * time.Second, 6: 2 * time.Minute, 60: 2 * time.Minute} {
		if got := restFor(n); got != want {
			t.Errorf("restFor(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestReloadUnderLoadLosesNoQuery(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, testRules, []Upstream{plain(t, up.addr)}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			for i := range 100 {
				m := new(dns.Msg)
				name := "tracker.test."
				if (w+i)%2 == 0 {
					name = "ok" + string(rune('a'+i%26)) + ".test."
				}
				m.SetQuestion(name, dns.TypeA)
				if _, _, err := c.Exchange(m, s.addr); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range 50 {
		rules := testRules
		if i%2 == 1 {
			rules += "||other.test^\n"
		}
		s.lists.Reload(rulesConfig("test", rules))
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMalformedQueries(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, nil)
	conn, err := net.Dial("udp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, junk := range [][]byte{{}, {0}, {1, 2, 3}, make([]byte, 12), []byte("\x00\x01\x01\x00\x00\x05\x00\x00\x00\x00\x00\x00\xc0\x0c"), make([]byte, 600)} {
		conn.Write(junk)
	}
	// Two questions: FORMERR. A response: FORMERR. Opcode NOTIFY: NOTIMP.
	two := new(dns.Msg)
	two.SetQuestion("a.test.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "b.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if r, _, err := (&dns.Client{}).Exchange(two, s.addr); err != nil || r.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %v %v", r, err)
	}
	notify := new(dns.Msg)
	notify.SetNotify("a.test.")
	if r, _, err := (&dns.Client{}).Exchange(notify, s.addr); err != nil || r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: %v %v", r, err)
	}
	if r := query(t, s.addr, "udp", "still.works.test", dns.TypeA); len(r.Answer) != 1 {
		t.Errorf("after junk: %v", r.Answer)
	}
}

func TestOverridesAllowBlockedNameForOneClient(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, testRules, []Upstream{plain(t, up.addr)}, nil)
	if r := query(t, s.addr, "udp", "tracker.test", dns.TypeA); r.Answer[0].(*dns.A).A.String() != "0.0.0.0" {
		t.Fatal("not blocked before the override")
	}
	if err := s.lists.Allow(blocklist.Override{Host: "tracker.test", Client: netip.MustParseAddr("127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	if r := query(t, s.addr, "udp", "tracker.test", dns.TypeA); r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("after allowing it for 127.0.0.1: %v", r.Answer)
	}
}

// A list rule for a name answered here does not change its answer, over
// UDP (the fast path) or TCP: both paths take the one verdict.
func TestLocalhostSameOverUDPAndTCP(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, "||localhost^\n||invalid^\n", []Upstream{plain(t, up.addr)}, nil)
	for _, network := range []string{"udp", "tcp", "udp"} {
		r := query(t, s.addr, network, "localhost", dns.TypeA)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
			t.Errorf("localhost A over %s: %v", network, r.Answer)
		}
		if r := query(t, s.addr, network, "x.invalid", dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("x.invalid over %s: rcode %s, want NXDOMAIN", network, dns.RcodeToString[r.Rcode])
		}
	}
}
