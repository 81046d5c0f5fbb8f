package resolver

import (
	"net"
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
	s, err := New(Options{Matcher: benchMatcher(b), Upstreams: []Upstream{localUpstream{}}, RateLimit: -1})
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
	s, _ := New(Options{Matcher: blocklist.Compile(), Upstreams: []Upstream{up}, RateLimit: -1, CacheSize: -1})
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
