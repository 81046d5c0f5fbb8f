package resolver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist"
)

func TestLocalZone(t *testing.T) {
	for name, want := range map[string]string{
		"printer.":                    "printer.",
		"nas.local.":                  "local.",
		"a.b.home.arpa.":              "home.arpa.",
		"1.1.168.192.in-addr.arpa.":   "168.192.in-addr.arpa.",
		"5.0.20.172.in-addr.arpa.":    "20.172.in-addr.arpa.",
		"5.0.32.172.in-addr.arpa.":    "", // 172.32/16 is public
		"1.2.3.10.in-addr.arpa.":      "10.in-addr.arpa.",
		"1.0.70.100.in-addr.arpa.":    "70.100.in-addr.arpa.",
		"8.8.8.8.in-addr.arpa.":       "",
		"1.0.0.0.d.f.ip6.arpa.":       "d.f.ip6.arpa.",
		"www.example.com.":            "",
		"example.":                    "example.", // single label, asked for an address
		".":                           "",
		"arpa.":                       "arpa.",
		"in-addr.arpa.":               "",
		"168.192.in-addr.arpa.":       "168.192.in-addr.arpa.",
		"x.8.b.d.0.1.0.0.2.ip6.arpa.": "8.b.d.0.1.0.0.2.ip6.arpa.",
	} {
		if got := localZone(name, dns.TypeA); got != want {
			t.Errorf("localZone(%q, A) = %q, want %q", name, got, want)
		}
	}
	// A single-label name is local but for a top-level domain's own
	// records: its NS, DS or SOA goes upstream (validating stubs ask them).
	for _, qtype := range []uint16{dns.TypeNS, dns.TypeDS, dns.TypeSOA, dns.TypeDNSKEY} {
		if got := localZone("com.", qtype); got != "" {
			t.Errorf("localZone(com., %s) = %q, want none", dns.TypeToString[qtype], got)
		}
	}
	for _, qtype := range []uint16{dns.TypeAAAA, dns.TypeHTTPS, dns.TypeSVCB, dns.TypeTXT, dns.TypeSRV, dns.TypePTR} {
		if got := localZone("printer.", qtype); got != "printer." {
			t.Errorf("localZone(printer., %s) = %q, want printer.", dns.TypeToString[qtype], got)
		}
	}
	if got := localZone("1.168.192.in-addr.arpa.", dns.TypeNS); got != "168.192.in-addr.arpa." {
		t.Errorf("a name in a local zone is local for every type; got %q", got)
	}
}

func TestOnLocalNetwork(t *testing.T) {
	for addr, want := range map[string]bool{
		"192.168.1.1":                          true,
		"10.0.0.53:5353":                       true,
		"127.0.0.1":                            true,
		"[::1]:53":                             true,
		"[fe80::1]:53":                         true,
		"[fd00::53]:53":                        true,
		"tcp://172.16.0.1":                     true,
		"tls://192.168.1.1:853":                true,
		"https://192.168.1.2/dns-query":        true,
		"1.1.1.1":                              false,
		"tls://9.9.9.9:853#dns.quad9.net":      false,
		"tls://dns.quad9.net:853":              false, // a name: not known to be local
		"https://cloudflare-dns.com/dns-query": false,
		"[2606:4700:4700::1111]:53":            false,
		"100.100.100.100":                      true, // shared space (RFC 6598): Tailscale
		"100.128.0.1":                          false,
	} {
		u, err := ParseUpstream(addr, UpstreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := onLocalNetwork(u); got != want {
			t.Errorf("onLocalNetwork(%s) = %v, want %v", addr, got, want)
		}
	}
	// Auto answers local names here only when no upstream may know them.
	// (New sends nothing anywhere.)
	for _, c := range []struct {
		ups  []string
		mode LocalNames
		want bool
	}{
		{[]string{"1.1.1.1", "tls://9.9.9.9:853"}, "", true},
		{[]string{"1.1.1.1", "192.168.1.1"}, LocalNamesAuto, false},
		{[]string{"192.168.1.1"}, LocalNamesAnswer, true},
		{[]string{"1.1.1.1"}, LocalNamesForward, false},
	} {
		var opts Options
		for _, a := range c.ups {
			u, _ := ParseUpstream(a, UpstreamOptions{})
			opts.Upstreams = append(opts.Upstreams, u)
		}
		opts.Policy = staticPolicy(blocklist.Compile())
		opts.LocalNames = c.mode
		s, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if s.answerLocal != c.want {
			t.Errorf("upstreams %v, mode %q: answer local names here = %v, want %v", c.ups, c.mode, s.answerLocal, c.want)
		}
	}
	if _, err := New(Options{Policy: staticPolicy(blocklist.Compile()), Upstreams: []Upstream{&zoneUpstream{}}, LocalNames: "sometimes"}); err == nil {
		t.Error("New took LocalNames \"sometimes\"")
	}
}

func TestLocalNamesAnsweredHere(t *testing.T) {
	main, router := startStub(t), startStub(t)
	s := newTestServer(t, testRules, []Upstream{plain(t, main.addr)}, func(o *Options) {
		o.LocalNames = LocalNamesAnswer
		o.DomainUpstreams = map[string][]Upstream{"Home.Arpa": {plain(t, router.addr)}, "lab.home.arpa.": {plain(t, main.addr)}}
	})
	nx := func(name string, qtype uint16, zone string) {
		t.Helper()
		r := query(t, s.addr, "udp", name, qtype)
		if r.Rcode != dns.RcodeNameError || !r.Authoritative || len(r.Ns) != 1 || r.Ns[0].Header().Name != zone {
			t.Errorf("%s %s: %s aa=%v ns=%v; want NXDOMAIN from here with the SOA of %s", name, dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], r.Authoritative, r.Ns, zone)
		}
	}
	nx("printer", dns.TypeA, "printer.")
	nx("nas.local", dns.TypeAAAA, "local.")
	nx("1.1.168.192.in-addr.arpa", dns.TypePTR, "168.192.in-addr.arpa.")
	nx("4.3.2.fd00.x.invalid", dns.TypeA, "invalid.")
	// The apex of a locally served zone exists: its SOA, no data else.
	if r := query(t, s.addr, "udp", "168.192.in-addr.arpa", dns.TypeSOA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("apex SOA: %s %v, want NOERROR and the SOA", dns.RcodeToString[r.Rcode], r.Answer)
	}
	if r := query(t, s.addr, "udp", "168.192.in-addr.arpa", dns.TypeNS); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Errorf("apex NS: %s %v %v, want NOERROR, no data, the SOA", dns.RcodeToString[r.Rcode], r.Answer, r.Ns)
	}
	if n := main.total() + router.total(); n != 0 {
		t.Errorf("%d local names went upstream", n)
	}
	// A top-level domain's NS goes upstream.
	query(t, s.addr, "udp", "com", dns.TypeNS)
	if n := main.count("com.", "NS", "udp"); n != 1 {
		t.Errorf("com. NS went upstream %d times, want 1", n)
	}

	// The longest DomainUpstreams domain wins over the local zones and
	// the shorter domain.
	if r := query(t, s.addr, "udp", "nas.home.arpa", dns.TypeA); len(r.Answer) != 1 || router.count("nas.home.arpa.", "A", "udp") != 1 {
		t.Errorf("nas.home.arpa: %v; the router was asked %d times, want 1", r, router.count("nas.home.arpa.", "A", "udp"))
	}
	if main.count("nas.home.arpa.", "A", "udp") != 0 {
		t.Error("nas.home.arpa went to the main upstream too")
	}
	if r := query(t, s.addr, "udp", "pi.lab.home.arpa", dns.TypeA); len(r.Answer) != 1 || main.count("pi.lab.home.arpa.", "A", "udp") != 1 || router.count("pi.lab.home.arpa.", "A", "udp") != 0 {
		t.Errorf("pi.lab.home.arpa: %v; want it from lab.home.arpa's upstream only", r)
	}
	// Other names, public reverse zones included, are forwarded as usual.
	query(t, s.addr, "udp", "www.example.test", dns.TypeA)
	query(t, s.addr, "udp", "8.8.8.8.in-addr.arpa", dns.TypePTR)
	if main.count("www.example.test.", "A", "udp") != 1 || main.count("8.8.8.8.in-addr.arpa.", "PTR", "udp") != 1 {
		t.Errorf("public names not forwarded: %v", main.queries)
	}

	// localhost is the loopback address (RFC 6761), never forwarded.
	for _, c := range []struct {
		name  string
		qtype uint16
		want  string
	}{{"localhost", dns.TypeA, "127.0.0.1"}, {"app.localhost", dns.TypeAAAA, "::1"}, {"localhost", dns.TypeMX, ""}} {
		r := query(t, s.addr, "udp", c.name, c.qtype)
		got := ""
		switch a := firstAnswer(r).(type) {
		case *dns.A:
			got = a.A.String()
		case *dns.AAAA:
			got = a.AAAA.String()
		}
		if r.Rcode != dns.RcodeSuccess || got != c.want {
			t.Errorf("%s %s: %s %q, want NOERROR %q", c.name, dns.TypeToString[c.qtype], dns.RcodeToString[r.Rcode], got, c.want)
		}
	}
	if n := main.count("localhost.", "A", "udp") + main.count("app.localhost.", "AAAA", "udp"); n != 0 {
		t.Errorf("localhost went upstream %d times", n)
	}
}

// With an upstream on the local network (a router), auto forwards local
// names as before.
func TestLocalNamesForwardedToLocalUpstream(t *testing.T) {
	st := startStub(t) // on 127.0.0.1
	s := newTestServer(t, testRules, []Upstream{plain(t, st.addr)}, nil)
	query(t, s.addr, "udp", "printer", dns.TypeA)
	query(t, s.addr, "udp", "1.1.168.192.in-addr.arpa", dns.TypePTR)
	if st.count("printer.", "A", "udp") != 1 || st.count("1.1.168.192.in-addr.arpa.", "PTR", "udp") != 1 {
		t.Errorf("local names not forwarded to a local upstream: %v", st.queries)
	}
}

func firstAnswer(m *dns.Msg) dns.RR {
	if len(m.Answer) == 0 {
		return nil
	}
	return m.Answer[0]
}

// An upstream that answers REFUSED (it will not serve us) rests like a dead
// one; SERVFAIL does not make it rest (TestFailoverRestsFailingUpstream).
func TestFailoverRestsRefusingUpstream(t *testing.T) {
	refusing, good := startStub(t), startStub(t)
	refusing.set(func(st *stub) { st.rcode = dns.RcodeRefused })
	s := newTestServer(t, "", []Upstream{plain(t, refusing.addr), plain(t, good.addr)}, func(o *Options) { o.Strategy = StrategyFailover })
	for i := range 3 {
		query(t, s.addr, "udp", fmt.Sprintf("r%d.test", i), dns.TypeA)
	}
	if n := refusing.total(); n != 1 {
		t.Errorf("the refusing upstream was asked %d times in 3 queries, want 1", n)
	}
}

// When an exchange fails but another has just stored a fresh answer, that
// answer is used (a cache hit, not a stale one), its TTLs decayed.
func TestStaleFindsFreshAnswer(t *testing.T) {
	c := newCache(100)
	k := cacheKey{name: "fresh.test.", qtype: dns.TypeA}
	m := new(dns.Msg)
	m.SetQuestion(k.name, dns.TypeA)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: k.name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: []byte{192, 0, 2, 1}}}
	t0 := time.Unix(1_800_000_000, 0)
	c.put(k, m, t0)
	got, isStale, ok := c.stale(k, t0.Add(10*time.Second))
	if !ok || isStale || got.Answer[0].Header().Ttl != 290 {
		t.Fatalf("stale() on a fresh entry: ok=%v stale=%v %v, want it as a fresh answer with TTL 290", ok, isStale, got)
	}
	got, isStale, ok = c.stale(k, t0.Add(301*time.Second))
	if !ok || !isStale || got.Answer[0].Header().Ttl != 30 {
		t.Fatalf("stale() on an expired entry: ok=%v stale=%v %v, want a stale answer with TTL 30", ok, isStale, got)
	}
	if got2, isStale, ok := c.stale(k, t0.Add(302*time.Second)); !ok || !isStale || got2 == got {
		t.Fatalf("stale() again within the 30s: ok=%v stale=%v, want the stale answer (a copy of its own)", ok, isStale)
	}
}

// Enums are checked by the library, not defaulted: a value no
// UnmarshalText accepts is an error.
func TestOptionsEnumsChecked(t *testing.T) {
	up, _ := ParseUpstream("127.0.0.1:53", UpstreamOptions{})
	for _, tweak := range []func(*Options){
		func(o *Options) { o.Strategy = "random" },
		func(o *Options) { o.BlockMode = "0.0.0.0" },
		func(o *Options) { o.LocalNames = "sometimes" },
	} {
		o := Options{Policy: staticPolicy(blocklist.Compile()), Upstreams: []Upstream{up}}
		tweak(&o)
		if _, err := New(o); err == nil {
			t.Errorf("New accepted %+v", o)
		}
	}
	var m BlockMode
	if err := m.UnmarshalText([]byte("nxdomain")); err != nil || m != BlockNXDomain {
		t.Errorf("UnmarshalText(nxdomain) = %q, %v", m, err)
	}
}

// A resolv.conf naming this host does not make the resolver forward to
// itself.
func TestSystemUpstreamsSkipSelf(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 127.0.0.1\nnameserver 127.0.0.53\nnameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for self, want := range map[string]string{
		"0.0.0.0:53":     "192.0.2.53:53",
		"127.0.0.1:53":   "127.0.0.53:53 192.0.2.53:53",
		"127.0.0.1:5353": "127.0.0.1:53 127.0.0.53:53 192.0.2.53:53",
	} {
		got, err := SystemUpstreams(conf, self)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("SystemUpstreams(%s) = %v, %v; want %s", self, got, err, want)
		}
	}
}
