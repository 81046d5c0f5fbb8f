package proxy

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// A pixel on a sender's branded host that CNAMEs to an ESP's tracking host
// is blocked before the proxy connects, by the ESP's hostname rule or by
// its path rules matched with the canonical name; the log names the target.
func TestCNAMECloakedPixelBlockedBeforeContact(t *testing.T) {
	w := newWorld(t, worldOptions{
		rules: "||esp-track.test^\n||mailesp.test^*/o/\n",
		cnames: map[string]string{
			"links.brand.test":  "esp-track.test",
			"email.brand2.test": "mailesp.test",
			"www.brand.test":    "cdn-host.test",
		},
	})
	c := w.client(nil)
	tests := []struct {
		url, originPath, cloakedBy string
		blocked                    bool
	}{
		{w.httpURL("links.brand.test", "/o/eJabc123"), "links.brand.test/o/eJabc123", "esp-track.test", true},
		{w.httpURL("links.brand.test", "/open.gif?u=1"), "links.brand.test/open.gif", "esp-track.test", true},
		{w.httpsURL("email.brand2.test", "/o/Zq81x"), "email.brand2.test/o/Zq81x", "mailesp.test", true},
		{w.httpsURL("email.brand2.test", "/c/Zq81x"), "email.brand2.test/c/Zq81x", "", false},
		{w.httpsURL("www.brand.test", "/o/logo.png"), "www.brand.test/o/logo.png", "", false},
	}
	for _, tc := range tests {
		resp, _ := w.get(c, tc.url, "Accept", "image/*")
		n := w.origin.count(tc.originPath)
		if tc.blocked && (n != 0 || resp.Header.Get("Content-Type") != "image/gif") {
			t.Errorf("GET %s: %d %s, origin saw it %d times; want our GIF, before contact", tc.url, resp.StatusCode, resp.Header.Get("Content-Type"), n)
		}
		if !tc.blocked && n != 1 {
			t.Errorf("GET %s: origin saw it %d times, want 1", tc.url, n)
		}
	}
	var cloaked []string
	for _, e := range w.eventsOf(KindBlocked) {
		cloaked = append(cloaked, e.Host+"→"+e.CloakedBy)
	}
	want := "links.brand.test→esp-track.test links.brand.test→esp-track.test email.brand2.test→mailesp.test"
	if got := strings.Join(cloaked, " "); got != want {
		t.Errorf("block events: %s, want %s", got, want)
	}

	// An HTTPS page on a cloaked host is answered by pixelwall over our
	// certificate, without dialling it.
	before, conns := len(w.eventsOf(KindBlocked)), w.tlsConns.Load()
	resp, _ := w.get(c, w.httpsURL("links.brand.test", "/o/eJghi789"), "Accept", "image/*")
	if resp.Header.Get("Content-Type") != "image/gif" || w.tlsConns.Load() != conns {
		t.Errorf("HTTPS image on a cloaked host: %d %s, %d new origin TLS connections; want our GIF and none",
			resp.StatusCode, resp.Header.Get("Content-Type"), w.tlsConns.Load()-conns)
	}
	if ev := w.eventsOf(KindBlocked); len(ev) != before+1 || ev[before].CloakedBy != "esp-track.test" {
		t.Errorf("block events after the HTTPS request: %+v", ev[before:])
	}

	// A user allow for the branded host lets it through.
	if err := w.lists.Allow(blocklist.Override{Host: "links.brand.test"}); err != nil {
		t.Fatal(err)
	}
	if w.get(c, w.httpURL("links.brand.test", "/o/eJdef456"), "Accept", "image/*"); w.origin.count("links.brand.test/o/eJdef456") != 1 {
		t.Error("an allowed branded host was still blocked by its CNAME")
	}
}

// With upstreams [dead, live] and failover, the proxy's lookups move on to
// the live one: they go through the resolver core.
func TestProxyLookupsFailOver(t *testing.T) {
	dead, err := net.ListenPacket("udp", "127.0.0.1:0") // takes queries, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	w := newWorld(t, worldOptions{})
	var ups []resolver.Upstream
	for _, a := range []string{dead.LocalAddr().String(), w.dnsAddr} {
		up, err := resolver.ParseUpstream(a, resolver.UpstreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, up)
	}
	res, err := resolver.New(resolver.Options{Policy: w.lists.Policy, Upstreams: ups, Strategy: resolver.StrategyFailover,
		Timeout: 200e6, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTransport(TransportOptions{Resolver: res})
	defer tr.CloseIdleConnections()
	for _, host := range []string{"a.failover.test", "b.failover.test"} {
		conn, err := tr.DialContext(context.Background(), "tcp", net.JoinHostPort(host, w.httpPort))
		if err != nil {
			t.Fatalf("dial %s with [dead, live] upstreams: %v", host, err)
		}
		conn.Close()
	}
}
