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
)

// zoneUpstream answers from a fixed set of records, in process.
type zoneUpstream struct {
	mu    sync.Mutex
	asked int
}

func (*zoneUpstream) String() string { return "zone" }

func (z *zoneUpstream) Exchange(_ context.Context, q *dns.Msg) (*dns.Msg, error) {
	z.mu.Lock()
	z.asked++
	z.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	qn, qt := q.Question[0].Name, q.Question[0].Qtype
	hdr := func(name string, t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	switch {
	case strings.HasPrefix(qn, "nx."):
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{&dns.SOA{Hdr: hdr("test.", dns.TypeSOA, 900), Ns: "ns.test.", Mbox: "h.test.", Serial: 7, Minttl: 120}}
	case strings.HasPrefix(qn, "cname."):
		m.Answer = []dns.RR{
			&dns.CNAME{Hdr: hdr(qn, dns.TypeCNAME, 600), Target: "edge.cdn.test."},
			&dns.A{Hdr: hdr("edge.cdn.test.", dns.TypeA, 30), A: net.IPv4(192, 0, 2, 9)},
		}
	case strings.HasPrefix(qn, "big.") && qt == dns.TypeTXT:
		for i := range 12 {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(qn, dns.TypeTXT, 300), Txt: []string{strings.Repeat(fmt.Sprint(i), 60)}})
		}
	case qt == dns.TypeA:
		m.Answer = []dns.RR{&dns.A{Hdr: hdr(qn, dns.TypeA, 300), A: net.IPv4(192, 0, 2, 1)},
			&dns.A{Hdr: hdr(qn, dns.TypeA, 200), A: net.IPv4(192, 0, 2, 2)}}
		m.Ns = []dns.RR{&dns.NS{Hdr: hdr("test.", dns.TypeNS, 3600), Ns: "ns.test."}}
		m.Extra = []dns.RR{&dns.A{Hdr: hdr("ns.test.", dns.TypeA, 3600), A: net.IPv4(192, 0, 2, 53)}}
	case qt == dns.TypeAAAA:
		m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr(qn, dns.TypeAAAA, 300), AAAA: net.ParseIP("2001:db8::1")}}
	default: // no data
		m.Ns = []dns.RR{&dns.SOA{Hdr: hdr("test.", dns.TypeSOA, 900), Ns: "ns.test.", Mbox: "h.test.", Serial: 7, Minttl: 60}}
	}
	if o := q.IsEdns0(); o != nil {
		m.SetEdns0(1232, o.Do())
		m.AuthenticatedData = o.Do()
	}
	return m, nil
}

// fastWorld is a Server with a settable clock and the events it emits,
// without sockets: the fast path and the slow path are called directly.
type fastWorld struct {
	*Server
	*record
	lists *blocklist.Service
	up    *zoneUpstream
}

func newFastWorld(t testing.TB, rules string, tweak func(*Options)) *fastWorld {
	t.Helper()
	w := &fastWorld{record: newRecord(), up: &zoneUpstream{}, lists: testLists(t, rules)}
	opts := Options{
		Policy:     w.lists.Policy,
		Upstreams:  []Upstream{w.up},
		RateLimit:  -1,
		LocalAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
	}
	w.wire(&opts)
	if tweak != nil {
		tweak(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.fastUDP.Store(true)
	w.Server = s
	return w
}

var fastClient = netip.MustParseAddr("127.0.0.1")

// slow answers packet through the slow path, as the UDP worker hands it
// over, and returns the answer as it goes on the wire.
func (w *fastWorld) slow(t testing.TB, packet []byte) *dns.Msg {
	t.Helper()
	req := new(dns.Msg)
	if err := req.Unpack(packet); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}}
	w.serve(rec, req, fastClient, true, fastSlow)
	if rec.msg == nil {
		t.Fatalf("slow path: no answer to\n%v", req)
	}
	return rewire(t, rec.msg)
}

// fast answers packet through the fast path.
func (w *fastWorld) fast(t *testing.T, packet []byte) (*dns.Msg, fastResult) {
	t.Helper()
	var cn clientName
	out, res := w.answerFast(nil, packet, make([]byte, 0, 256), fastClient, &cn, w.now())
	if res != fastAnswered {
		if len(out) != 0 {
			t.Errorf("fast path wrote %d bytes but did not answer", len(out))
		}
		return nil, res
	}
	m := new(dns.Msg)
	if err := m.Unpack(out); err != nil {
		t.Fatalf("fast answer does not unpack: %v\n%x", err, out)
	}
	return m, res
}

// rewire packs and unpacks m, so that answers built in memory and answers
// read from bytes print the same.
func rewire(t testing.TB, m *dns.Msg) *dns.Msg {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out := new(dns.Msg)
	if err := out.Unpack(b); err != nil {
		t.Fatal(err)
	}
	return out
}

type fastQuery struct {
	name  string
	qtype uint16
	edns  int // 0: none; else the UDP size
	do    bool
	rd    bool
	cd    bool
}

func (q fastQuery) pack(t *testing.T, id uint16) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.Id = id
	m.RecursionDesired = q.rd
	m.CheckingDisabled = q.cd
	if q.edns > 0 {
		m.SetEdns0(uint16(q.edns), q.do)
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (q fastQuery) String() string {
	return fmt.Sprintf("%s %s edns=%d do=%v rd=%v cd=%v", q.name, dns.TypeToString[q.qtype], q.edns, q.do, q.rd, q.cd)
}

// fastQueries are names, types and flags in every combination.
func fastQueries(names []string) []fastQuery {
	var qs []fastQuery
	for _, name := range names {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeHTTPS, dns.TypeMX} {
			for _, edns := range []int{0, 512, 1232, 4096} {
				for _, flags := range []int{0, 1, 2, 3, 4, 7} { // do, rd, cd bits
					if edns == 0 && flags&1 != 0 {
						continue
					}
					qs = append(qs, fastQuery{name, qt, edns, flags&1 != 0, flags&2 != 0, flags&4 != 0})
				}
			}
		}
	}
	return qs
}

// TestFastPathBlocksAsSlowPath: for every block mode, query type and flag,
// the answer written by the fast path reads back exactly as the one the
// slow path builds with miekg/dns, and the event is the same.
func TestFastPathBlocksAsSlowPath(t *testing.T) {
	for _, mode := range []BlockMode{BlockNull, BlockNXDomain, BlockRefused} {
		t.Run(string(mode), func(t *testing.T) {
			w := newFastWorld(t, testRules+"||very-long-rule-name-for-a-tracker.example^\n", func(o *Options) {
				o.BlockMode = mode
				o.BlockTTL = 42 * time.Second
			})
			for i, q := range fastQueries([]string{"tracker.test.", "Sub.TRACKER.test.", "ads.test.", "x.very-long-rule-name-for-a-tracker.example."}) {
				packet := q.pack(t, uint16(1000+i))
				fast, res := w.fast(t, packet)
				if res != fastAnswered {
					t.Fatalf("%v: fast path result %d, want an answer", q, res)
				}
				fastEvent := w.lastEvent()
				slow := w.slow(t, packet)
				if fast.String() != slow.String() {
					t.Fatalf("%v: fast answer\n%v\nslow answer\n%v", q, fast, slow)
				}
				if slowEvent := w.lastEvent(); fastEvent != slowEvent {
					t.Fatalf("%v: fast event %+v, slow event %+v", q, fastEvent, slowEvent)
				}
			}
			if st := w.Stats(); st.Blocked == 0 || st.Blocked != st.Queries {
				t.Errorf("stats %+v: every query was a block", st)
			}
		})
	}
}

// TestFastPathCachedAsSlowPath: once the slow path has answered a name, the
// fast path answers it from the cache exactly as the slow path would, TTLs
// decayed, the client's ID, RD bit and letter case in place, without asking
// upstream again.
func TestFastPathCachedAsSlowPath(t *testing.T) {
	w := newFastWorld(t, testRules, func(o *Options) { o.NoPrefetch = true })
	names := []string{"www.example.test.", "cname.example.test.", "nx.example.test."}
	qs := fastQueries(names)
	for i, q := range qs {
		w.slow(t, q.pack(t, uint16(i))) // fills the cache, keeps packed replies
	}
	asked := w.up.asked
	for _, age := range []time.Duration{0, 7500 * time.Millisecond, 21 * time.Second} { // 28.5 s in all
		w.advance(age)
		for i, q := range qs {
			for _, mixed := range []string{q.name, strings.ToUpper(q.name[:3]) + q.name[3:]} {
				lower := q.name
				q := q
				q.name = mixed
				packet := q.pack(t, uint16(50000+i))
				fast, res := w.fast(t, packet)
				if mixed != lower && res == fastChecked {
					continue // not in lower case: the slow path answers
				}
				if res != fastAnswered {
					t.Fatalf("%v after %v: fast path result %d, want an answer from cache", q, age, res)
				}
				fastEvent := w.lastEvent()
				slow := w.slow(t, packet)
				if fast.String() != slow.String() {
					t.Fatalf("%v after %v: fast answer\n%v\nslow answer\n%v", q, age, fast, slow)
				}
				if fast.Question[0].Name != mixed {
					t.Fatalf("question %q, want the client's %q", fast.Question[0].Name, mixed)
				}
				if slowEvent := w.lastEvent(); fastEvent != slowEvent || fastEvent.Kind != "passed" {
					t.Fatalf("%v: fast event %+v, slow event %+v", q, fastEvent, slowEvent)
				}
			}
		}
	}
	if w.up.asked != asked {
		t.Errorf("upstream asked %d more times; the cache should have answered", w.up.asked-asked)
	}
	// The shortest TTL in cname's answer is 30 s: past it, it is gone.
	w.advance(2 * time.Second)
	if _, res := w.fast(t, fastQuery{name: "cname.example.test.", qtype: dns.TypeA, edns: 1232}.pack(t, 1)); res != fastChecked {
		t.Errorf("expired entry: fast path result %d, want the slow path", res)
	}
}

// TestFastPathDefers: what the fast path must not answer goes to the slow
// path, and the slow path's answer is right.
func TestFastPathDefers(t *testing.T) {
	w := newFastWorld(t, testRules, nil)
	q := fastQuery{name: "www.example.test.", qtype: dns.TypeA, edns: 1232}
	w.slow(t, q.pack(t, 1))
	if _, res := w.fast(t, q.pack(t, 2)); res != fastAnswered {
		t.Fatalf("result %d, want an answer", res)
	}

	// New lists: the cached answer was checked against the old ones.
	w.lists.Reload(rulesConfig("new", "||cdn.test^\n"))
	cq := fastQuery{name: "cname.example.test.", qtype: dns.TypeA}
	if _, res := w.fast(t, q.pack(t, 3)); res != fastChecked {
		t.Errorf("after new lists: result %d, want the slow path", res)
	}
	// The CNAME target is now blocked: the slow path says so, the fast
	// path never answers it from the cache.
	if m := w.slow(t, cq.pack(t, 4)); len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "0.0.0.0" {
		t.Errorf("cloaked by a newly listed CNAME target: %v", m)
	}
	if _, res := w.fast(t, cq.pack(t, 5)); res != fastChecked {
		t.Errorf("cloaked name: result %d, want the slow path", res)
	}

	// An answer larger than the client takes: the slow path truncates it.
	big := fastQuery{name: "big.example.test.", qtype: dns.TypeTXT}
	if m := w.slow(t, big.pack(t, 6)); !m.Truncated {
		t.Fatalf("TXT answer of %d records not truncated for a 512-byte client", len(m.Answer))
	}
	if _, res := w.fast(t, big.pack(t, 7)); res != fastChecked {
		t.Errorf("oversized answer: result %d, want the slow path", res)
	}

	// An allow from the dashboard for this client only.
	if err := w.lists.Allow(blocklist.Override{Host: "tracker.test", Client: fastClient}); err != nil {
		t.Fatal(err)
	}
	if _, res := w.fast(t, fastQuery{name: "tracker.test.", qtype: dns.TypeA}.pack(t, 8)); res != fastChecked {
		t.Errorf("allowed by an override: result %d, want the slow path", res)
	}
	if n, err := w.lists.Unallow("tracker.test", "", fastClient); n != 1 || err != nil {
		t.Fatalf("Unallow = %d, %v", n, err)
	}

	packet := func(edit func(*dns.Msg)) []byte {
		m := new(dns.Msg)
		m.SetQuestion("tracker.test.", dns.TypeA)
		edit(m)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tracker := packet(func(*dns.Msg) {})
	pointer := append([]byte(nil), tracker[:12]...)
	pointer = append(pointer, 0xC0, 12, 0, 1, 0, 1) // a name that is a pointer
	for what, p := range map[string][]byte{
		"empty":         nil,
		"header only":   tracker[:12],
		"cut short":     tracker[:len(tracker)-2],
		"trailing byte": append(append([]byte(nil), tracker...), 0),
		"pointer name":  pointer,
		"escaped dot":   packet(func(m *dns.Msg) { m.Question[0].Name = `a\.b.tracker.test.` }),
		"space":         packet(func(m *dns.Msg) { m.Question[0].Name = `a\032b.tracker.test.` }),
		"root":          packet(func(m *dns.Msg) { m.Question[0].Name = "." }),
		"ANY":           packet(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeANY }),
		"CHAOS":         packet(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }),
		"response":      packet(func(m *dns.Msg) { m.Response = true }),
		"truncated":     packet(func(m *dns.Msg) { m.Truncated = true }),
		"notify":        packet(func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }),
		"two questions": packet(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }),
		"an answer": packet(func(m *dns.Msg) {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeA, Class: 1}}}
		}),
		"EDNS version 1": packet(func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
		}),
	} {
		if _, res := w.fast(t, p); res != fastSlow {
			t.Errorf("%s: result %d, want the slow path", what, res)
		}
	}

	// Names answered here are decided by decide and encoded by the slow
	// path, with the client already checked.
	for _, name := range []string{LocalName, "localhost.", "a.invalid."} {
		if _, res := w.fast(t, packet(func(m *dns.Msg) { m.Question[0].Name = name })); res != fastChecked {
			t.Errorf("%s: result %d, want the slow path (checked)", name, res)
		}
	}

	// A client outside the ACL is refused by the slow path, within the
	// refusal rate (a burst of 20 with the clock stopped), and dropped here
	// beyond it.
	var cn clientName
	outside := netip.MustParseAddr("192.0.2.7")
	for i := range 25 {
		want := fastRefusal
		if i >= 20 {
			want = fastDropped
		}
		if _, res := w.answerFast(nil, tracker, nil, outside, &cn, w.now()); res != want {
			t.Errorf("client outside the ACL, query %d: result %d, want %d", i+1, res, want)
		}
	}
	if st := w.Stats(); st.RefusalsDropped != 5 {
		t.Errorf("refusals dropped %d, want 5", st.RefusalsDropped)
	}
}

// TestFastPathPrefetch: in the last tenth of a popular entry's TTL the
// slow path answers, and refreshes it.
func TestFastPathPrefetch(t *testing.T) {
	w := newFastWorld(t, "", nil)
	q := fastQuery{name: "popular.example.test.", qtype: dns.TypeAAAA, edns: 1232}
	w.slow(t, q.pack(t, 1))
	for i := range 4 {
		if _, res := w.fast(t, q.pack(t, uint16(2+i))); res != fastAnswered {
			t.Fatalf("result %d, want an answer", res)
		}
	}
	w.advance(280 * time.Second) // 20 s of 300 left
	if _, res := w.fast(t, q.pack(t, 9)); res != fastChecked {
		t.Fatalf("in the prefetch window: result %d, want the slow path", res)
	}
	asked := w.up.asked
	w.slow(t, q.pack(t, 10))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		w.up.mu.Lock()
		n := w.up.asked
		w.up.mu.Unlock()
		if n > asked {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("no prefetch: upstream asked %d times, as before", w.up.asked)
}

// TestUDPWorkerWithPacketInfo serves a socket the way a wildcard listener
// is served, answers leaving from the address each query came to, and
// checks the client (which only takes answers from that address) gets them.
func TestUDPWorkerWithPacketInfo(t *testing.T) {
	w := newFastWorld(t, testRules, nil)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u, ok := newUDPConn(pc)
	if !ok {
		t.Skip("no fast UDP path on this system")
	}
	if err := u.batch.SetControlMessage(0x0C, true); err != nil { // FlagDst|FlagInterface
		t.Fatal(err)
	}
	u.pktinfo = true
	var slow sync.WaitGroup
	done := make(chan error, 1)
	go func() { done <- w.serveUDP(u, &slow) }()
	defer func() {
		pc.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
		slow.Wait()
	}()
	for _, name := range []string{"tracker.test.", "www.example.test.", "www.example.test."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, pc.LocalAddr().String())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(r.Answer) == 0 {
			t.Fatalf("%s: no answer: %v", name, r)
		}
	}
	if st := w.Stats(); st.Blocked != 1 || st.CacheHits != 1 {
		t.Errorf("stats %+v, want one block and one cache hit", st)
	}
}

// TestFastPathEventsOwnTheirNames: the worker reuses one buffer for every
// query's name; the names in events must not change with it.
func TestFastPathEventsOwnTheirNames(t *testing.T) {
	w := newFastWorld(t, testRules, nil)
	cached := fastQuery{name: "www.example.test.", qtype: dns.TypeA, edns: 1232}
	w.slow(t, cached.pack(t, 1))
	scratch := make([]byte, 0, 256)
	var cn clientName
	for i, name := range []string{"a.tracker.test.", "www.example.test.", "zzzzzzzzzzzzzzzz.ads.test.", "www.example.test."} {
		q := fastQuery{name: name, qtype: dns.TypeA, edns: 1232}
		if _, res := w.answerFast(nil, q.pack(t, uint16(i)), scratch, fastClient, &cn, w.now()); res != fastAnswered {
			t.Fatalf("%s: result %d", name, res)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var got []string
	for _, e := range w.events[len(w.events)-4:] {
		got = append(got, e.Name)
	}
	if want := []string{"a.tracker.test", "www.example.test", "zzzzzzzzzzzzzzzz.ads.test", "www.example.test"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("event names %q, want %q", got, want)
	}
}

// TestLearnPacksOnce: a query the fast path passes on (here, one in upper
// case) is answered by the slow path from the cache; the packed reply
// already kept is not packed again.
func TestLearnPacksOnce(t *testing.T) {
	w := newFastWorld(t, testRules, func(o *Options) { o.NoPrefetch = true })
	q := fastQuery{name: "www.example.test.", qtype: dns.TypeA, edns: 1232}
	w.slow(t, q.pack(t, 1))
	packed := func() *packedReply {
		k := cacheKey{name: q.name, qtype: q.qtype}
		sh := w.cache.shard(k)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		e, _ := sh.entries.Peek(k)
		return e.packed[1]
	}
	first := packed()
	if first == nil {
		t.Fatal("no packed reply after the slow path's answer")
	}
	upper := q
	upper.name = "WWW.example.test."
	w.slow(t, upper.pack(t, 2))
	if packed() != first {
		t.Error("the packed reply was made again for a query the fast path passed on")
	}
	// New lists: the packed reply is stale, and the next answer packs anew.
	w.lists.Reload(rulesConfig("new", testRules))
	w.slow(t, upper.pack(t, 3))
	if p := packed(); p == first || p == nil {
		t.Error("after new lists the packed reply was not made again")
	}
}

// TestUDPBurstOfMisses sends a burst of distinct uncached names from one
// socket without waiting, so that the worker reads several of them in one
// batch and hands each to the slow path: every query must get its own
// answer, exactly once, and each name must go upstream once.
func TestUDPBurstOfMisses(t *testing.T) {
	st := startStub(t)
	ts := newTestServer(t, testRules, []Upstream{plain(t, st.addr)}, nil)
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, err := net.ResolveUDPAddr("udp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	names := make(map[uint16]string, n)
	for i := range n {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("burst-%d.example.test.", i), dns.TypeA)
		m.Id = uint16(1000 + i)
		names[m.Id] = m.Question[0].Name
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteTo(b, to); err != nil {
			t.Fatal(err)
		}
	}
	answered := make(map[uint16]int, n)
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(answered) < n {
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("%d of %d queries answered: %v", len(answered), n, err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:k]); err != nil {
			t.Fatalf("unreadable answer: %v", err)
		}
		name, ok := names[r.Id]
		if !ok || len(r.Question) != 1 || r.Question[0].Name != name {
			t.Fatalf("answer with ID %d is to %v, want %q", r.Id, r.Question, name)
		}
		if len(r.Answer) != 1 {
			t.Fatalf("%s: %d answers, want 1: %v", name, len(r.Answer), r)
		}
		answered[r.Id]++
	}
	// Nothing more should come: a second answer to any query is a bug.
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if k, _, err := c.ReadFrom(buf); err == nil {
		r := new(dns.Msg)
		_ = r.Unpack(buf[:k])
		t.Fatalf("an extra answer after all %d: ID %d %v", n, r.Id, r.Question)
	}
	for id, name := range names {
		if got := st.count(name, "A", "udp"); got != 1 {
			t.Errorf("%s (ID %d) went upstream %d times, want 1", name, id, got)
		}
	}
}
