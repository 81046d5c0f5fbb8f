package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rcodeName names rc; miekg/dns names 16 BADSIG, which shares it with BADVERS.
func rcodeName(rc int) string {
	if rc == dns.RcodeBadVers {
		return "BADVERS"
	}
	return dns.RcodeToString[rc]
}

// ednsQuery is a query for name with an OPT of the given version, and
// extra more OPT records after it.
func ednsQuery(name string, version uint8, extra int) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(version)
	for range extra {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		m.Extra = append(m.Extra, o)
	}
	return m
}

// TestEDNSVersionAndOPTCount: EDNS version 1 gets BADVERS with an OPT of
// version 0, two OPT records get FORMERR (RFC 6891), over UDP and TCP, for
// a name the fast path would block and one it would forward; neither
// reaches the upstream.
func TestEDNSVersionAndOPTCount(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, testRules, []Upstream{plain(t, up.addr)}, nil)
	for _, network := range []string{"udp", "tcp"} {
		for _, name := range []string{"x.tracker.test", "www.example.test"} {
			c := &dns.Client{Net: network, Timeout: 2 * time.Second}
			r, _, err := c.Exchange(ednsQuery(name, 1, 0), s.addr)
			if err != nil {
				t.Fatalf("%s %s EDNS v1: %v", network, name, err)
			}
			if r.Rcode != dns.RcodeBadVers {
				t.Errorf("%s %s EDNS v1: rcode %s, want BADVERS", network, name, rcodeName(r.Rcode))
			}
			if o := r.IsEdns0(); o == nil || o.Version() != 0 {
				t.Errorf("%s %s EDNS v1: answer OPT %v, want one of version 0", network, name, o)
			}
			r, _, err = c.Exchange(ednsQuery(name, 0, 1), s.addr)
			if err != nil {
				t.Fatalf("%s %s two OPTs: %v", network, name, err)
			}
			if r.Rcode != dns.RcodeFormatError || len(r.Answer) != 0 {
				t.Errorf("%s %s two OPTs: rcode %s with %d answers, want FORMERR", network, name,
					dns.RcodeToString[r.Rcode], len(r.Answer))
			}
		}
	}
	if up.total() != 0 {
		t.Errorf("upstream asked %d times, want 0", up.total())
	}
	// A well-formed query still works.
	if r := query(t, s.addr, "udp", "www.example.test", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("plain query after: %v", r)
	}
}

// TestFastPathLeavesEDNSErrorsToSlowPath: the UDP fast path does not
// answer a query with EDNS version 1 or two OPTs, even for a blocked name,
// and the slow path answers BADVERS and FORMERR.
func TestFastPathLeavesEDNSErrorsToSlowPath(t *testing.T) {
	w := newFastWorld(t, testRules, nil)
	for _, c := range []struct {
		q     *dns.Msg
		rcode int
	}{
		{ednsQuery("x.tracker.test", 1, 0), dns.RcodeBadVers},
		{ednsQuery("x.tracker.test", 0, 1), dns.RcodeFormatError},
	} {
		pkt, err := c.q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, res := w.fast(t, pkt); res == fastAnswered {
			t.Errorf("fast path answered %v", c.q)
		}
		if m := w.slow(t, pkt); m.Rcode != c.rcode {
			t.Errorf("slow path: rcode %s, want %s", rcodeName(m.Rcode), rcodeName(c.rcode))
		}
	}
}

// TestTCPPipelinedQueries: 200 queries written on one TCP connection
// before any answer is read all get their answer, and the connection
// still takes more (miekg/dns would close it after 128).
func TestTCPPipelinedQueries(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, testRules, []Upstream{plain(t, up.addr)}, nil)
	conn, err := dns.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	const n = 200
	want := map[uint16]string{}
	for i := range n {
		name := fmt.Sprintf("n%d.example.test.", i)
		if i%2 == 1 {
			name = fmt.Sprintf("n%d.tracker.test.", i)
		}
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Id = uint16(i + 1)
		want[m.Id] = name
		if err := conn.WriteMsg(m); err != nil {
			t.Fatalf("writing query %d: %v", i, err)
		}
	}
	for i := range n {
		r, err := conn.ReadMsg()
		if err != nil {
			t.Fatalf("reading answer %d of %d: %v", i+1, n, err)
		}
		name, ok := want[r.Id]
		if !ok || len(r.Question) != 1 || r.Question[0].Name != name || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("answer %d: %v, want one for %q", i+1, r, name)
		}
		delete(want, r.Id)
	}
	m := new(dns.Msg)
	m.SetQuestion("after.example.test.", dns.TypeA)
	if err := conn.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.ReadMsg(); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("query %d on the connection: %v, %v", n+1, r, err)
	}
}

// TestRefusalFloodBounded: a client outside allow_clients that floods
// the resolver gets a burst of REFUSED answers (and as many events) and
// then nothing; the rest are counted as dropped. Many sources together
// are bounded too (127.0.0.0/8 is loopback: each address is a source).
// (cmd/pixelwall's TestRefusalFloodFoldedInLog follows the events into
// the block log.)
func TestRefusalFloodBounded(t *testing.T) {
	up := startStub(t)
	s := newTestServer(t, "", []Upstream{plain(t, up.addr)}, func(o *Options) {
		o.AllowClients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		o.RefusalRate = 5 // bursts of 20 per source, 200 for all together
	})

	// flood sends perSource queries from each source, a round at a time,
	// and returns how many were answered, all REFUSED.
	flood := func(sources []string, perSource int) int {
		t.Helper()
		before := s.Stats()
		answers := make(chan int, len(sources))
		var conns []*net.UDPConn
		for _, src := range sources {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns = append(conns, c)
			go func() {
				n := 0
				buf := make([]byte, 1500)
				for {
					c.SetReadDeadline(time.Now().Add(time.Second))
					k, err := c.Read(buf)
					if err != nil {
						answers <- n
						return
					}
					m := new(dns.Msg)
					if m.Unpack(buf[:k]) != nil || m.Rcode != dns.RcodeRefused {
						t.Errorf("answer to %s: %v, want REFUSED", src, m)
					}
					n++
				}
			}()
		}
		to, _ := net.ResolveUDPAddr("udp", s.addr)
		for i := range perSource {
			for j, c := range conns {
				m := new(dns.Msg)
				m.SetQuestion(fmt.Sprintf("q%d-%d.flood.test.", i, j), dns.TypeA)
				pkt, _ := m.Pack()
				if _, err := c.WriteToUDP(pkt, to); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Millisecond) // loopback drops what the socket cannot hold
		}
		sent := uint64(len(sources) * perSource)
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			st := s.Stats()
			if st.Refused+st.RefusalsDropped-before.Refused-before.RefusalsDropped == sent {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("refused %d, dropped %d of %d queries", st.Refused-before.Refused,
					st.RefusalsDropped-before.RefusalsDropped, sent)
			}
		}
		total := 0
		for range sources {
			total += <-answers
		}
		return total
	}
	// The clock stands still: one source gets its burst, no more.
	if n := flood([]string{"127.0.0.1"}, 100); n != 20 {
		t.Errorf("one source: %d of 100 answered, want its burst of 20", n)
	}
	st := s.Stats()
	if st.Refused != 20 || st.RefusalsDropped != 80 || len(s.eventsOf("refused")) != 20 {
		t.Errorf("refused %d, dropped %d, refused events %d; want 20, 80, 20", st.Refused, st.RefusalsDropped,
			len(s.eventsOf("refused")))
	}

	// Over TCP, past the burst the connection is closed unanswered.
	c := &dns.Client{Net: "tcp", Timeout: time.Second}
	if r, _, err := c.Exchange(ednsQuery("tcp.flood.test", 0, 0), s.addr); err == nil {
		t.Errorf("TCP query past the burst answered: %v", r)
	}

	// A minute later, 15 sources of 20 queries each: every bucket is
	// full, but together they get 200 answers.
	s.advance(time.Minute)
	var sources []string
	for i := range 15 {
		sources = append(sources, fmt.Sprintf("127.0.0.%d", 10+i))
	}
	if n := flood(sources, 20); n != 200 {
		t.Errorf("15 sources: %d of 300 answered, want 200", n)
	}
	if n := len(s.eventsOf("refused")); n != 220 {
		t.Errorf("%d refused events in all, want 220", n)
	}
	if d := s.Stats().RefusalsDropped; d != 80+1+100 {
		t.Errorf("dropped %d in all, want 181", d)
	}
}
