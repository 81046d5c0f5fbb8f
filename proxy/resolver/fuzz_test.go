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

// FuzzServeDNS feeds arbitrary packets to the handler: it must never panic,
// and whatever it answers must pack.
func FuzzServeDNS(f *testing.F) {
	seed := func(name string, t uint16, edns bool) []byte {
		m := new(dns.Msg)
		m.SetQuestion(name, t)
		if edns {
			m.SetEdns0(4096, true)
		}
		b, _ := m.Pack()
		return b
	}
	f.Add([]byte{})
	f.Add([]byte("\n"))
	f.Add(seed("tracker.test.", dns.TypeA, true))
	f.Add(seed("news.test.", dns.TypeA, false))
	f.Add(seed("pixelwall.internal.", dns.TypeAAAA, true))
	f.Add(seed(".", dns.TypeANY, true))
	f.Add(seed("1.0.0.127.in-addr.arpa.", dns.TypePTR, false))
	s, err := New(Options{
		Matcher:    blocklist.Compile(blocklist.Source{Name: "f", Text: testRules}),
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
