package resolver

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist"
)

// queryFrom asks addr over network from the loopback address src.
func queryFrom(t *testing.T, src, addr, network, name string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.SetEdns0(1232, false)
	var local net.Addr = &net.UDPAddr{IP: net.ParseIP(src)}
	if network == "tcp" {
		local = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: local, Timeout: 2 * time.Second}}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s from %s over %s: %v", name, src, network, err)
	}
	return r
}

// firstA is the address of r's A record, or "" with none.
func firstA(r *dns.Msg) string {
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}

func TestGroupsPerClientThroughDNS(t *testing.T) {
	st := startStub(t)
	cfg := blocklist.Config{
		NoDefaults: true,
		Sources: []blocklist.Source{
			{Name: "base", Format: blocklist.FormatAdblock, Text: "||ads.base.test^\n||track.base.test^\n"},
			{Name: "strict", Format: blocklist.FormatAdblock, Text: "||pixel.strict.test^\n"},
		},
		Groups: []blocklist.Group{
			{Name: "kids", Lists: []string{"base", "strict"}, Settings: blocklist.GroupSettings{BlockMode: "nxdomain"}},
			{Name: "relaxed", Lists: []string{"base"}, Allow: []string{"ads.base.test"}},
		},
		Clients: []blocklist.Client{
			{Name: "tablet", Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Group: "kids"},
			{Name: "laptop", Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}, Group: "relaxed"},
		},
	}
	var lists *blocklist.Service
	ts := newTestServer(t, "", []Upstream{plain(t, st.addr)}, func(o *Options) {
		var err error
		lists, err = blocklist.NewService(cfg, blocklist.ServiceOptions{Logger: slog.New(slog.DiscardHandler), Now: o.Now})
		if err != nil {
			t.Fatal(err)
		}
		o.Policy, o.CacheSize = lists.Policy, -1
	})

	for _, network := range []string{"udp", "tcp"} {
		// The kids' strict list and block mode.
		if r := queryFrom(t, "127.0.0.2", ts.addr, network, "pixel.strict.test"); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s tablet pixel.strict.test: %s, want NXDOMAIN", network, dns.RcodeToString[r.Rcode])
		}
		if r := queryFrom(t, "127.0.0.3", ts.addr, network, "pixel.strict.test"); r.Rcode != dns.RcodeSuccess || firstA(r) == "0.0.0.0" || firstA(r) == "" {
			t.Errorf("%s laptop pixel.strict.test: %s %q, want the upstream's answer", network, dns.RcodeToString[r.Rcode], firstA(r))
		}
		// The relaxed group's allow; the default block mode.
		if r := queryFrom(t, "127.0.0.3", ts.addr, network, "ads.base.test"); firstA(r) == "0.0.0.0" || firstA(r) == "" {
			t.Errorf("%s laptop ads.base.test: %q, want the upstream's answer", network, firstA(r))
		}
		if r := queryFrom(t, "127.0.0.3", ts.addr, network, "track.base.test"); firstA(r) != "0.0.0.0" {
			t.Errorf("%s laptop track.base.test: %s %q, want 0.0.0.0", network, dns.RcodeToString[r.Rcode], firstA(r))
		}
	}

	// A pause of the tablet for five minutes: its queries pass, logged as
	// paused; the laptop's stay blocked; at five minutes the pause is over.
	if _, err := lists.Pause(blocklist.Pause{Scope: blocklist.PauseClient, Name: "tablet", Until: ts.opts.Now().Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"udp", "tcp"} {
		if r := queryFrom(t, "127.0.0.2", ts.addr, network, "track.base.test"); firstA(r) == "0.0.0.0" || r.Rcode != dns.RcodeSuccess {
			t.Errorf("%s paused tablet track.base.test: %s %q, want the upstream's answer", network, dns.RcodeToString[r.Rcode], firstA(r))
		}
		if r := queryFrom(t, "127.0.0.3", ts.addr, network, "track.base.test"); firstA(r) != "0.0.0.0" {
			t.Errorf("%s laptop track.base.test during the tablet's pause: %q, want 0.0.0.0", network, firstA(r))
		}
	}
	paused := ts.eventsOf("paused")
	if len(paused) != 2 || paused[0].Client != "127.0.0.2" || paused[0].Rule != "||track.base.test^" || paused[0].List != "base" {
		t.Errorf("paused events: %+v", paused)
	}
	ts.advance(5 * time.Minute)
	for _, network := range []string{"udp", "tcp"} {
		if r := queryFrom(t, "127.0.0.2", ts.addr, network, "track.base.test"); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s tablet track.base.test after the pause: %s, want NXDOMAIN", network, dns.RcodeToString[r.Rcode])
		}
	}
}
