package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/certs"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// newPagesWorld is pixelwall with the embedded lists in front of a
// pageOrigin, resolving every name through the local DNS stub (which
// answers 127.0.0.1, or NXDOMAIN under nx.test): port 443 is dialled on
// the origin's TLS listener, 80 on its plain one.
func newPagesWorld(t *testing.T) *browserWorld {
	t.Helper()
	bw := &browserWorld{origin: &pageOrigin{png: photoPNG(t), hits: make(map[string]int)}}
	dnsAddr := startDNSStub(t, nil)
	originCA, _, err := certs.LoadOrCreate(certs.Options{Dir: t.TempDir(), Name: "test origin CA"})
	if err != nil {
		t.Fatal(err)
	}
	hl, tl := listen(t), listen(t)
	serveForTest(t, bw.origin, hl)
	serveForTest(t, bw.origin, tls.NewListener(tl, certs.NewSigner(originCA, certs.SignerOptions{}).TLSConfig("origin.test")))
	if bw.ca, _, err = certs.LoadOrCreate(certs.Options{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(originCA.Cert)
	lists, err := blocklist.NewService(blocklist.Config{}, blocklist.ServiceOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	up, err := resolver.ParseUpstream(dnsAddr, resolver.UpstreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := resolver.New(resolver.Options{Policy: lists.Policy, Upstreams: []resolver.Upstream{up}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTransport(TransportOptions{Resolver: res, RootCAs: roots})
	dial := tr.DialContext // resolves through the stub
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		target := map[string]string{"443": port(tl), "80": port(hl)}[p]
		if target == "" {
			return nil, fmt.Errorf("browser test: refusing to dial %s", addr)
		}
		return dial(ctx, network, net.JoinHostPort(host, target))
	}
	srv, err := New(Options{
		Policy:    lists.Policy,
		Allow:     lists.Allow,
		Resolver:  res,
		Signer:    certs.NewSigner(bw.ca, certs.SignerOptions{}),
		CA:        bw.ca,
		Transport: tr,
		Event: func(e Event) {
			bw.mu.Lock()
			bw.events = append(bw.events, e)
			bw.mu.Unlock()
		},
		Logger: panicWatch(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	pl := listen(t)
	serveForTest(t, srv, pl)
	t.Cleanup(tr.CloseIdleConnections)
	bw.proxyURL = "http://" + pl.Addr().String()
	return bw
}

// artifact writes a screenshot where PIXELWALL_ARTIFACTS says (else into
// the test's temporary directory) and logs its path.
func artifact(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("PIXELWALL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

type pageState struct {
	Title, Text, URL, AllowHref string
	Secure                      bool
}

const pageStateJS = `({Title: document.title, Text: document.body.innerText, URL: location.href,
  AllowHref: (document.querySelector('a.button') || {}).href || "", Secure: window.isSecureContext})`

// TestBrowserHTTPSBlockPage: real Chromium, trusting pixelwall's CA,
// navigates to an HTTPS host the embedded list blocks by name; it gets the
// block page over TLS with our certificate, the host is never contacted,
// and the page's allow link lets the next visit through.
func TestBrowserHTTPSBlockPage(t *testing.T) {
	exe := chromiumPath(t)
	bw := newPagesWorld(t)
	ctx := startChromium(t, exe, bw.proxyURL, bw.ca.SPKIHash(), 60*time.Second)

	const blocked = "https://mktoresp.com/track?id=42"
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(blocked))
	if err != nil {
		t.Fatalf("navigate %s: %v (the CONNECT was refused rather than answered?)", blocked, err)
	}
	st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	artifact(t, "browser-https-block-page.png", shot)
	if resp.Status != 403 || st.Title != "Blocked by pixelwall" || !strings.Contains(st.Text, "||mktoresp.com^") ||
		!strings.Contains(st.Text, blocklist.DefaultListName) || !st.Secure || st.URL != blocked {
		t.Errorf("HTTPS navigation to a blocked host: status %d, %+v; want the block page at %s over TLS", resp.Status, st, blocked)
	}
	if !strings.HasPrefix(st.AllowHref, "http://"+OwnHost+"/allow?") {
		t.Fatalf("block page allow link = %q", st.AllowHref)
	}
	if n := bw.origin.count("mktoresp.com/track"); n != 0 {
		t.Errorf("origin saw the blocked host %d times, want 0", n)
	}
	if e, ok, all := bw.eventFor(KindBlocked, "mktoresp.com"); !ok || e.Response != "block-page" {
		t.Errorf("block event %+v (found %v), want a block page; events %q", e, ok, all)
	}

	// Allow for an hour: the link brings the browser back to the page, now
	// fetched from the origin (which has no such page: its 404).
	if err := chromedp.Do(ctx, chromedp.Navigate(st.AllowHref)); err != nil {
		t.Fatalf("following the allow link: %v", err)
	}
	if url, err := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href")); err != nil || url != blocked {
		t.Errorf("after the allow link the browser is at %q (%v), want %s", url, err, blocked)
	}
	if n := bw.origin.count("mktoresp.com/track"); n != 1 {
		t.Errorf("after allowing, origin saw the page %d times, want 1", n)
	}
}

// TestBrowserErrorPage: a name the DNS stub says does not exist gets
// pixelwall's error page (502, the cause, the resolver asked), not a raw
// error string.
func TestBrowserErrorPage(t *testing.T) {
	exe := chromiumPath(t)
	bw := newPagesWorld(t)
	ctx := startChromium(t, exe, bw.proxyURL, bw.ca.SPKIHash(), 60*time.Second)

	const missing = "https://shop.nx.test/cart"
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(missing))
	if err != nil {
		t.Fatalf("navigate %s: %v", missing, err)
	}
	st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	artifact(t, "browser-error-page.png", shot)
	if resp.Status != 502 || resp.Headers["X-Pixelwall"] != "dns-nxdomain" && resp.Headers["x-pixelwall"] != "dns-nxdomain" {
		t.Errorf("status %d, headers %v; want 502 with X-Pixelwall: dns-nxdomain", resp.Status, resp.Headers)
	}
	if st.Title != "shop.nx.test cannot be reached" || !strings.Contains(st.Text, "does not exist") ||
		!strings.Contains(st.Text, "DNS resolver asked: 127.0.0.1:") || !strings.Contains(st.Text, "What to try") {
		t.Errorf("error page: %+v", st)
	}
}

// TestBrowserPACFile runs the proxy's PAC file in Chromium's JavaScript
// engine with the PAC helpers, where dnsResolve and the other look-up
// functions throw: it must decide on host names alone.
func TestBrowserPACFile(t *testing.T) {
	exe := chromiumPath(t)
	bw := newPagesWorld(t)
	ctx := startChromium(t, exe, bw.proxyURL, bw.ca.SPKIHash(), 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	pac := pacFile("192.168.1.5:8080")
	js := `(() => {
  const lookup = () => { throw new Error("the PAC file looked a name up"); };
  const dnsResolve = lookup, isResolvable = lookup, myIpAddress = lookup, dnsResolveEx = lookup, isInNet = lookup;
  const isPlainHostName = h => h.indexOf(".") < 0;
  const dnsDomainIs = (h, d) => h.length >= d.length && h.substring(h.length - d.length) === d;
  const shExpMatch = (s, p) => new RegExp("^" + p.replace(/\./g, "\\.").replace(/\*/g, ".*").replace(/\?/g, ".") + "$").test(s);
  ` + pac + `
  const out = {};
  for (const h of ["www.example.com", "printer", "localhost", "app.localhost", "nas.local", "127.0.0.1", "::1", "10.0.0.1", "tracker.test"]) {
    try { out[h] = FindProxyForURL("https://" + h + "/", h); } catch (e) { out[h] = "error: " + e.message; }
  }
  return out;
})()`
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](js))
	if err != nil {
		t.Fatalf("running the PAC file: %v", err)
	}
	const proxied = "PROXY 192.168.1.5:8080; DIRECT"
	want := map[string]string{"www.example.com": proxied, "printer": "DIRECT", "localhost": "DIRECT", "app.localhost": "DIRECT",
		"nas.local": "DIRECT", "127.0.0.1": "DIRECT", "::1": "DIRECT", "10.0.0.1": proxied, "tracker.test": proxied}
	for h, w := range want {
		if got[h] != w {
			t.Errorf("FindProxyForURL(%q) = %q, want %q", h, got[h], w)
		}
	}
}
