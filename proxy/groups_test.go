package proxy

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// groupsListsConfig puts 127.0.0.2 in the group "kids", whose lists include
// "strict", and 127.0.0.3 in "relaxed", which uses "base" alone and allows
// ads.base.test.
func groupsListsConfig() blocklist.Config {
	return blocklist.Config{
		NoDefaults: true,
		Sources: []blocklist.Source{
			{Name: "base", Format: blocklist.FormatAdblock, Text: "||ads.base.test^\n||track.base.test^\n"},
			{Name: "strict", Format: blocklist.FormatAdblock, Text: "||pixel.strict.test^\n"},
		},
		Groups: []blocklist.Group{
			{Name: "kids", Lists: []string{"base", "strict"}},
			{Name: "relaxed", Lists: []string{"base"}, Allow: []string{"ads.base.test"}},
		},
		Clients: []blocklist.Client{
			{Name: "tablet", Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Group: "kids"},
			{Name: "laptop", Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}, Group: "relaxed"},
		},
	}
}

// clientFrom is w.client with connections to the proxy made from the
// loopback address src.
func (w *world) clientFrom(src string) *http.Client {
	c := w.client(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := c.Transport.(*http.Transport)
	tr.DialContext = d.DialContext
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	return c
}

func TestGroupsPerClientThroughProxy(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.lists.Reload(groupsListsConfig())
	kids, relaxed := w.clientFrom("127.0.0.2"), w.clientFrom("127.0.0.3")

	// The strict list blocks for the kids' tablet only.
	if resp, _ := w.get(kids, w.httpURL("pixel.strict.test", "/p.gif")); resp.StatusCode != http.StatusOK || w.origin.count("pixel.strict.test/p.gif") != 0 {
		t.Fatalf("tablet: pixel.strict.test reached the origin (status %d)", resp.StatusCode)
	}
	if ev := w.eventsOf(KindBlocked); len(ev) != 1 || ev[0].Client != "127.0.0.2" || ev[0].List != "strict" {
		t.Fatalf("blocked events: %+v", ev)
	}
	w.get(relaxed, w.httpURL("pixel.strict.test", "/p.gif"))
	if n := w.origin.count("pixel.strict.test/p.gif"); n != 1 {
		t.Fatalf("laptop: pixel.strict.test reached the origin %d times, want 1", n)
	}
	// The relaxed group's allow, over intercepted HTTPS too.
	w.get(relaxed, w.httpsURL("ads.base.test", "/a.gif"))
	// For the tablet the host is blocked by name: answered here (with our
	// certificate), never dialled.
	if resp, err := kids.Get(w.httpsURL("ads.base.test", "/a.gif")); err == nil {
		resp.Body.Close()
		if resp.Header.Get("X-Pixelwall") == "" {
			t.Error("tablet: ads.base.test answered without pixelwall's header")
		}
	}
	if n := w.origin.count("ads.base.test/a.gif"); n != 1 {
		t.Fatalf("ads.base.test reached the origin %d times, want 1 (the laptop's)", n)
	}

	// A pause of the tablet lets its requests through, logged as paused
	// with the rule, and leaves the laptop alone.
	if _, err := w.lists.Pause(blocklist.Pause{Scope: blocklist.PauseClient, Name: "tablet", Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	w.get(kids, w.httpURL("track.base.test", "/t.gif"))
	w.get(relaxed, w.httpURL("track.base.test", "/t.gif"))
	if n := w.origin.count("track.base.test/t.gif"); n != 1 {
		t.Fatalf("track.base.test reached the origin %d times, want 1 (the paused tablet's)", n)
	}
	ev := w.eventsOf(KindPaused)
	if len(ev) != 1 || ev[0].Client != "127.0.0.2" || ev[0].Rule != "||track.base.test^" || ev[0].List != "base" || len(w.eventsOf(KindPassed)) != 2 { // the laptop's two; the paused request is logged once, as paused
		t.Fatalf("paused events: %+v", ev)
	}
	if n, _ := w.lists.Resume(blocklist.Pause{Scope: blocklist.PauseClient, Name: "tablet"}); n != 1 {
		t.Fatal("resume ended no pause")
	}
	w.get(kids, w.httpURL("track.base.test", "/t.gif"))
	if n := w.origin.count("track.base.test/t.gif"); n != 1 {
		t.Fatal("blocking did not come back on resume")
	}
}

// TestGroupSettingsInProxy: a group with gpc off and intercept none.
func TestGroupSettingsInProxy(t *testing.T) {
	w := newWorld(t, worldOptions{})
	cfg := groupsListsConfig()
	off := false
	cfg.Groups[1].Settings = blocklist.GroupSettings{GPC: &off, Intercept: "none"}
	w.lists.Reload(cfg)
	kids, relaxed := w.clientFrom("127.0.0.2"), w.clientFrom("127.0.0.3")
	gpc := func(c *http.Client) string {
		_, body := w.get(c, w.httpURL("echo.test", "/echo"))
		var got map[string]string
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("echo: %v: %s", err, body)
		}
		return got["gpc"]
	}
	if g := gpc(kids); g != "1" {
		t.Errorf("tablet: Sec-GPC %q, want 1", g)
	}
	if g := gpc(relaxed); g != "" {
		t.Errorf("laptop (gpc off): Sec-GPC %q sent", g)
	}
	// Intercept none: the laptop's TLS is tunnelled, so our CA is not what
	// it sees.
	_, err := relaxed.Get(w.httpsURL("plain.test", "/"))
	var ce *tls.CertificateVerificationError
	if err == nil || !errors.As(err, &ce) {
		t.Errorf("laptop (intercept none): err %v, want the origin's certificate refused", err)
	}
	if resp, _ := w.get(kids, w.httpsURL("plain.test", "/")); resp.StatusCode != http.StatusOK {
		t.Errorf("tablet: intercepted GET: %d", resp.StatusCode)
	}
}

// CNAME uncloaking uses the client's group's lists: a branded host that
// CNAMEs to a host only the strict list blocks is blocked for the tablet
// and reaches the origin for the laptop.
func TestGroupsCNAMEUncloaking(t *testing.T) {
	w := newWorld(t, worldOptions{cnames: map[string]string{"links.brand.test": "pixel.strict.test"}})
	w.lists.Reload(groupsListsConfig())
	kids, relaxed := w.clientFrom("127.0.0.2"), w.clientFrom("127.0.0.3")
	w.get(kids, w.httpURL("links.brand.test", "/o/1"))
	if n := w.origin.count("links.brand.test/o/1"); n != 0 {
		t.Errorf("tablet: a host cloaking a strict-list tracker reached the origin %d times", n)
	}
	w.get(relaxed, w.httpURL("links.brand.test", "/o/2"))
	if n := w.origin.count("links.brand.test/o/2"); n != 1 {
		t.Errorf("laptop: the host reached the origin %d times, want 1 (its lists do not block the target)", n)
	}
}
