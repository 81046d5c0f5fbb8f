package resolver

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// portStub answers A queries on loopback UDP and notes the source port of
// each; for names in decoys it first sends answers the client must skip:
// one with another ID and one to another question.
type portStub struct {
	mu     sync.Mutex
	ports  []int
	addr   string
	decoys map[string]bool
}

func startPortStub(t *testing.T) *portStub {
	t.Helper()
	st := &portStub{decoys: map[string]bool{"decoy.test.": true}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		st.mu.Lock()
		st.ports = append(st.ports, w.RemoteAddr().(*net.UDPAddr).Port)
		st.mu.Unlock()
		answer := func(name string, id uint16, ip net.IP) {
			m := new(dns.Msg)
			m.SetReply(q)
			m.Id = id
			m.Question[0].Name = name
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: ip}}
			w.WriteMsg(m)
		}
		name := q.Question[0].Name
		if st.decoys[name] {
			answer(name, q.Id+1, net.IPv4(192, 0, 2, 66))        // another ID
			answer("other.test.", q.Id, net.IPv4(192, 0, 2, 67)) // another question
		}
		answer(name, q.Id, net.IPv4(192, 0, 2, 1))
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	st.addr = pc.LocalAddr().String()
	return st
}

func (st *portStub) distinctPorts() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	seen := map[int]bool{}
	for _, p := range st.ports {
		seen[p] = true
	}
	return len(seen)
}

func exchangeA(t *testing.T, u Upstream, name string) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	r, err := u.Exchange(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// TestUpstreamSocketsPooled: sequential queries share one connected UDP
// socket, which is replaced after maxSocketUses queries (a new source port).
func TestUpstreamSocketsPooled(t *testing.T) {
	st := startPortStub(t)
	u := upstreamAt(t, st.addr, time.Second)
	for range maxSocketUses {
		exchangeA(t, u, "www.example.test.")
	}
	if n := st.distinctPorts(); n != 1 {
		t.Errorf("%d queries came from %d ports, want 1 (a pooled socket)", maxSocketUses, n)
	}
	exchangeA(t, u, "www.example.test.")
	if n := st.distinctPorts(); n != 2 {
		t.Errorf("after %d uses: %d ports, want a fresh socket", maxSocketUses, n)
	}
}

// TestUpstreamSkipsStrayAnswers: answers with another ID or to another
// question (late answers, or spoofing attempts) are not taken.
func TestUpstreamSkipsStrayAnswers(t *testing.T) {
	st := startPortStub(t)
	u := upstreamAt(t, st.addr, time.Second)
	for range 3 {
		r := exchangeA(t, u, "decoy.test.")
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Fatalf("took a stray answer: %v", r)
		}
	}
}
