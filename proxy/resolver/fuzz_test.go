package resolver

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist"
)

// localUpstream answers from memory: the fuzz target exercises the handler,
// not the network.
type localUpstream struct{}

func (localUpstream) String() string { return "local" }

func (localUpstream) Exchange(_ context.Context, q *dns.Msg) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetReply(q)
	if len(q.Question) == 1 && q.Question[0].Qtype == dns.TypeA {
		m.Answer = []dns.RR{
			&dns.CNAME{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: "x.tracker.test."},
		}
	}
	return m, nil
}

// recorder is a dns.ResponseWriter that keeps what was written.
type recorder struct {
	remote net.Addr
	msg    *dns.Msg
}

func (r *recorder) LocalAddr() net.Addr         { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr        { return r.remote }
func (r *recorder) WriteMsg(m *dns.Msg) error   { r.msg = m; _, err := m.Pack(); return err }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

// seedQuery is a query packet for the fuzz corpora.
func seedQuery(name string, t uint16, edns bool) []byte {
	m := new(dns.Msg)
	m.SetQuestion(name, t)
	if edns {
		m.SetEdns0(4096, true)
	}
	b, _ := m.Pack()
	return b
}

// FuzzServeDNS feeds arbitrary packets to the handler: it must never panic,
// and whatever it answers must pack.
func FuzzServeDNS(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\n"))
	f.Add(seedQuery("tracker.test.", dns.TypeA, true))
	f.Add(seedQuery("news.test.", dns.TypeA, false))
	f.Add(seedQuery("pixelwall.internal.", dns.TypeAAAA, true))
	f.Add(seedQuery(".", dns.TypeANY, true))
	f.Add(seedQuery("1.0.0.127.in-addr.arpa.", dns.TypePTR, false))
	s, err := New(Options{
		Policy:     staticPolicy(blocklist.Compile(blocklist.Source{Name: "f", Text: testRules})),
		Upstreams:  []Upstream{localUpstream{}},
		RateLimit:  -1,
		LocalAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(packet); err != nil {
			return // the dns server drops what does not parse
		}
		w := &recorder{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}}
		s.ServeDNS(w, req)
		if w.msg == nil {
			t.Fatalf("no answer to %v", req)
		}
		if _, err := w.msg.Pack(); err != nil {
			t.Fatalf("answer does not pack: %v\n%v", err, w.msg)
		}
	})
}

// FuzzFastPath feeds arbitrary packets to the UDP fast path: it must never
// panic, and whenever it answers, the answer must read back exactly as the
// slow path's answer to the same packet.
func FuzzFastPath(f *testing.F) {
	f.Add([]byte{})
	f.Add(seedQuery("tracker.test.", dns.TypeA, true))
	f.Add(seedQuery("x.ads.test.", dns.TypeHTTPS, false))
	f.Add(seedQuery("news.test.", dns.TypeAAAA, true))
	f.Add(seedQuery("News.test.", dns.TypeAAAA, false))
	f.Add(seedQuery("pixelwall.internal.", dns.TypeA, true))
	f.Add(seedQuery("localhost.", dns.TypeA, true))
	f.Add(seedQuery("x.invalid.", dns.TypeAAAA, false))
	f.Add(seedQuery("allowed.tracker.test.", dns.TypeA, true))
	// No events kept: a million inputs would pile them up. The policy has
	// rules for names answered here and an allow for this client, so that
	// both paths are compared on every kind of verdict.
	w := newFastWorld(f, testRules+"||localhost^\n||invalid^\n||pixelwall.internal^\n", func(o *Options) { o.Event = func(Event) {} })
	if err := w.lists.Allow(blocklist.Override{Host: "allowed.tracker.test", Client: fastClient}); err != nil {
		f.Fatal(err)
	}
	// Cache a few names so that the fast path has answers to copy.
	for _, name := range []string{"news.test.", "cname.news.test.", "nx.news.test."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			for _, edns := range []bool{false, true} {
				w.slow(f, seedQuery(name, qt, edns))
			}
		}
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		var cn clientName
		out, res := w.answerFast(nil, packet, make([]byte, 0, 256), fastClient, &cn, w.now())
		if res != fastAnswered {
			return
		}
		fast := new(dns.Msg)
		if err := fast.Unpack(out); err != nil {
			t.Fatalf("fast answer does not unpack: %v", err)
		}
		if slow := w.slow(t, packet); fast.String() != slow.String() {
			t.Fatalf("fast answer\n%v\nslow answer\n%v", fast, slow)
		}
	})
}
