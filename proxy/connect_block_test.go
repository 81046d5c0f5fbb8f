package proxy

import (
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"
)

// allowLink is the allow link of a block page.
func allowLink(t *testing.T, page string) string {
	t.Helper()
	i := strings.Index(page, `href="`)
	if i < 0 {
		t.Fatalf("block page has no link:\n%s", page)
	}
	rest := page[i+len(`href="`):]
	return strings.ReplaceAll(rest[:strings.Index(rest, `"`)], "&amp;", "&")
}

func TestConnectToBlockedHostGetsBlockPage(t *testing.T) {
	w := newWorld(t, worldOptions{rules: testRules})
	c := w.client(nil) // trusts pixelwall's CA
	page := w.httpsURL("tracker.test", "/landing?x=1")

	resp, body := w.get(c, page, "Sec-Fetch-Dest", "document")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "pixelwall blocked this page") ||
		!strings.Contains(string(body), "<code>||tracker.test^</code>") || !strings.Contains(string(body), "<code>test</code>") {
		t.Fatalf("navigation to a blocked host over HTTPS = %d\n%s\nwant 403 and the block page naming rule and list", resp.StatusCode, body)
	}
	if iss := resp.TLS.PeerCertificates[0].Issuer.CommonName; iss != w.ca.Cert.Subject.CommonName {
		t.Errorf("blocked host presented a certificate from %q, want pixelwall's CA", iss)
	}
	// Subresources on it get their typed empty answers.
	for _, tc := range []struct{ dest, ct string }{{"image", "image/gif"}, {"script", "application/javascript; charset=utf-8"}, {"empty", ""}} {
		resp, _ := w.get(c, w.httpsURL("tracker.test", "/r."+tc.dest), "Sec-Fetch-Dest", tc.dest)
		if resp.Header.Get("Content-Type") != tc.ct || resp.Header.Get("X-Pixelwall") != "blocked by test" {
			t.Errorf("%s on a blocked host: %d %q, want Content-Type %q", tc.dest, resp.StatusCode, resp.Header.Get("Content-Type"), tc.ct)
		}
	}
	if n := w.tlsConns.Load(); n != 0 {
		t.Fatalf("the origin accepted %d TLS connections for a blocked host, want 0", n)
	}
	if ev := w.eventsOf(KindBlocked); len(ev) != 4 || ev[0].Host != "tracker.test" || ev[0].Response != "block-page" || ev[0].Rule != "||tracker.test^" {
		t.Errorf("block events = %+v, want 4, the first a block page for tracker.test", ev)
	}

	// The allow link works for HTTPS pages too, and only then is the host dialled.
	resp, _ = w.get(c, allowLink(t, string(body)))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != page {
		t.Fatalf("allow link: %d to %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	resp, body = w.get(c, page, "Sec-Fetch-Dest", "document")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello from tracker.test") || w.tlsConns.Load() == 0 {
		t.Errorf("after allowing: %d %q, origin TLS connections %d", resp.StatusCode, body, w.tlsConns.Load())
	}
}

func TestConnectToBlockedHostRefusedWhenTunnelled(t *testing.T) {
	for _, tc := range []struct {
		name  string
		host  string
		tweak func(*Options)
	}{
		{"intercept none", "tracker.test", func(o *Options) { o.Intercept = InterceptNone }},
		{"passthrough", "bank.test", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, worldOptions{rules: testRules + "||bank.test^\n", tweak: tc.tweak})
			originOnly := x509.NewCertPool()
			originOnly.AddCert(w.originCA.Cert)
			c := w.client(originOnly)
			// Browsers retry a refused CONNECT several times: one entry.
			for range 5 {
				if _, err := c.Get(w.httpsURL(tc.host, "/anything")); err == nil {
					t.Fatal("request through a CONNECT to a blocked, tunnelled host succeeded")
				}
			}
			if n := w.tlsConns.Load(); n != 0 {
				t.Errorf("the origin accepted %d connections", n)
			}
			ev := w.eventsOf(KindConnectRefused)
			if len(ev) != 1 || ev[0].Host != tc.host {
				t.Errorf("connect-refused events = %+v, want one for %s", ev, tc.host)
			}
		})
	}
}

func TestRefusalFolder(t *testing.T) {
	var f refusalFolder
	now := time.Unix(1_700_000_000, 0)
	a, b := clientIP("127.0.0.1:1"), clientIP("127.0.0.2:1")
	steps := []struct {
		client string
		host   string
		after  time.Duration
		want   bool
	}{
		{"a", "x.test", 0, true},
		{"a", "x.test", time.Second, false},
		{"a", "x.test", 2 * time.Second, false},
		{"b", "x.test", 0, true},
		{"a", "y.test", 0, true},
		{"a", "x.test", refusalWindow + time.Second, true},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		c := a
		if s.client == "b" {
			c = b
		}
		if got := f.first(c, s.host, now); got != s.want {
			t.Errorf("step %d: first(%s, %s) = %v, want %v", i, s.client, s.host, got, s.want)
		}
	}
}

func TestConnectToBlockedHostBlockPageUnderInterceptListed(t *testing.T) {
	w := newWorld(t, worldOptions{rules: testRules, tweak: func(o *Options) {
		o.Intercept, o.InterceptHosts = InterceptListed, []string{"news.test"}
	}})
	resp, body := w.get(w.client(nil), w.httpsURL("tracker.test", "/"), "Sec-Fetch-Dest", "document")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "pixelwall blocked this page") {
		t.Errorf("blocked host under intercept: listed = %d\n%s\nwant the block page", resp.StatusCode, body)
	}
	if n := w.tlsConns.Load(); n != 0 {
		t.Errorf("the origin accepted %d connections", n)
	}
}
