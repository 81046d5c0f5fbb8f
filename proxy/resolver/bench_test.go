package resolver

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist"
)

// benchMatcher is EasyPrivacy plus the 143,876-domain list from the shared
// data, as in the targets, or a small list when that is absent.
func benchMatcher(b *testing.B) *blocklist.Matcher {
	var srcs []blocklist.Source
	for _, name := range []string{"easyprivacy.txt", "hosts/blocklistproject-tracking.domains.txt"} {
		text, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "data", name))
		if err != nil {
			b.Logf("shared data absent (%v): benchmarking with a small list", err)
			return blocklist.Compile(blocklist.Source{Name: "small", Text: testRules})
		}
		srcs = append(srcs, blocklist.Source{Name: name, Text: string(text)})
	}
	return blocklist.Compile(srcs...)
}

func benchServer(b *testing.B) *Server {
	s, err := New(Options{Policy: staticPolicy(benchMatcher(b)), Upstreams: []Upstream{localUpstream{}}, RateLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchQuery(name string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(1232, false)
	return m
}

var benchClient = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}

// BenchmarkServeBlocked answers a blocked name in-process (handler only, no sockets).
func BenchmarkServeBlocked(b *testing.B) {
	s := benchServer(b)
	req := benchQuery("ads.doubleclick.net.")
	w := &recorder{remote: benchClient}
	s.ServeDNS(w, req)
	if w.msg == nil || len(w.msg.Answer) != 1 || w.msg.Answer[0].(*dns.A).A.String() != "0.0.0.0" {
		b.Fatalf("not blocked: %v", w.msg)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.ServeDNS(w, req)
	}
}

// BenchmarkServeCached answers from the cache in-process.
func BenchmarkServeCached(b *testing.B) {
	s := benchServer(b)
	req := benchQuery("www.example.org.")
	w := &recorder{remote: benchClient}
	s.ServeDNS(w, req)
	b.ReportAllocs()
	for b.Loop() {
		s.ServeDNS(w, req)
	}
	if s.Stats().CacheHits == 0 {
		b.Fatal("no cache hits")
	}
}

// BenchmarkForwardOverhead is a cache miss against a local upstream over
// real UDP sockets; the stub's own cost is the floor.
func BenchmarkForwardOverhead(b *testing.B) {
	st := &stub{queries: make(map[string]int)}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: st}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	up, _ := ParseUpstream(pc.LocalAddr().String(), UpstreamOptions{Timeout: time.Second})
	s, _ := New(Options{Policy: staticPolicy(blocklist.Compile()), Upstreams: []Upstream{up}, RateLimit: -1, CacheSize: -1})
	w := &recorder{remote: benchClient}
	req := benchQuery("www.example.org.")
	b.Run("direct to upstream", func(b *testing.B) {
		for b.Loop() {
			up.Exchange(b.Context(), upstreamQuery(req))
		}
	})
	b.Run("through pixelwall", func(b *testing.B) {
		for b.Loop() {
			s.ServeDNS(w, req)
		}
	})
}

// BenchmarkFastPath is the UDP fast path on a query's bytes, in process
// (no sockets): a blocked name, and a cached answer copied and patched.
//
// Measured: blocked 285 ns/op, cached 320 ns/op, 1 alloc/op each (the
// event's copy of the name); ServeDNS takes 1.0–1.1 µs and 10–14 allocs.
func BenchmarkFastPath(b *testing.B) {
	s := benchServer(b)
	s.fastUDP.Store(true)
	pack := func(m *dns.Msg) []byte {
		p, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	client := netip.MustParseAddr("127.0.0.1")
	run := func(b *testing.B, packet []byte) {
		out := make([]byte, 0, 4096) // the most the fast path writes
		name := make([]byte, 0, 256)
		var cn clientName
		if _, res := s.answerFast(out, packet, name, client, &cn, time.Now()); res != fastAnswered {
			b.Fatalf("not answered by the fast path: %d", res)
		}
		b.ReportAllocs()
		for b.Loop() {
			s.answerFast(out[:0], packet, name, client, &cn, time.Now())
		}
	}
	b.Run("blocked", func(b *testing.B) { run(b, pack(benchQuery("ads.doubleclick.net."))) })
	b.Run("cached", func(b *testing.B) {
		req := benchQuery("www.example.org.")
		s.ServeDNS(&recorder{remote: benchClient}, req) // fills the cache and packs the answer
		run(b, pack(req))
	})
}
