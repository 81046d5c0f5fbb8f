package resolver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A client's name comes from its PTR record, asked of the upstream (the
// router) in the background; NameOf never waits, and an address without
// one stays unnamed.
func TestClientNamesFromPTR(t *testing.T) {
	pc, tl, err := (&Server{}).Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	router := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Qtype == dns.TypePTR && q.Question[0].Name == "2.0.0.127.in-addr.arpa." {
			m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 60}, Ptr: "Tablet.lan."}}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	us, ts := &dns.Server{PacketConn: pc, Handler: router}, &dns.Server{Listener: tl, Handler: router}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() })

	s := newTestServer(t, "", []Upstream{plain(t, pc.LocalAddr().String())}, nil)
	names := s.NewClientNames()
	tablet, other := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	var got string
	for deadline := time.Now().Add(5 * time.Second); got == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got = names.NameOf(tablet)
	}
	if got != "tablet.lan" {
		t.Errorf("NameOf(127.0.0.2) = %q, want tablet.lan", got)
	}
	names.NameOf(other)
	time.Sleep(100 * time.Millisecond)
	if got := names.NameOf(other); got != "" {
		t.Errorf("NameOf(127.0.0.3) = %q, want none", got)
	}
}
