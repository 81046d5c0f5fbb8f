package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/certs"
)

// The page's images, as real trackers write them: no ports in the URLs.
const (
	metaPixel     = "https://www.facebook.com/tr?id=1234567890&ev=PageView&noscript=1"
	espPixel      = "https://u1234567.ct.sendgrid.net/wf/open?upn=Xy7-2BqLmN3-2FabcDEF0123456789-3D-3D"
	unlistedPixel = "https://pixel.unlisted-mailer.test/o/ab12cd34ef56.gif"
	cdnPhoto      = "https://cdn.example.test/photo.png"
	ownPhoto      = "https://news.example.test/photo.png"
	articleURL    = "https://news.example.test/article"
)

const articleHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>pixelwall browser test</title>
<style>body{font:16px sans-serif;margin:2em} img{border:1px solid #888;margin:4px} .mail{border:1px dashed #888;padding:1em;margin:1em 0}</style>
</head><body>
<h1>An article with trackers</h1>
<p>A Meta pixel follows.</p>
<img height="1" width="1" src="` + metaPixel + `">
<div class="mail"><p>Hello reader, this is our newsletter.</p>
<img width="1" height="1" alt="" src="` + espPixel + `"></div>
<p>An open pixel from a sender no list knows.</p>
<img width="1" height="1" alt="" src="` + unlistedPixel + `">
<p>Two ordinary photos.</p>
<img alt="cdn photo" src="` + cdnPhoto + `"> <img alt="own photo" src="/photo.png">
</body></html>`

// pageOrigin serves the article, real images for the photos and a real
// 1×1 GIF for anything that looks like a pixel; it counts hits by host+path.
type pageOrigin struct {
	png   []byte
	pages map[string]string // host+path: an HTML page to serve
	mu    sync.Mutex
	hits  map[string]int
}

func (o *pageOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	o.mu.Lock()
	o.hits[host+r.URL.Path]++
	o.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	if page, ok := o.pages[host+r.URL.Path]; ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
		return
	}
	switch p := r.URL.Path; {
	case host == "news.example.test" && p == "/article":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(articleHTML))
	case strings.HasSuffix(p, ".png"):
		w.Header().Set("Content-Type", "image/png")
		w.Write(o.png)
	case strings.HasSuffix(p, ".gif"), p == "/tr", p == "/wf/open":
		w.Header().Set("Content-Type", "image/gif")
		w.Write(originGIF)
	default:
		http.NotFound(w, r)
	}
}

func (o *pageOrigin) count(hostPath string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[hostPath]
}

// countHost is the number of requests for any path on host.
func (o *pageOrigin) countHost(host string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for hp, c := range o.hits {
		if strings.HasPrefix(hp, host+"/") {
			n += c
		}
	}
	return n
}

// browserWorld is pixelwall with the real embedded lists in front of a
// pageOrigin. Every upstream dial goes to the origin on loopback whatever
// address was asked for, so URLs need no ports and nothing leaves the machine.
type browserWorld struct {
	origin   *pageOrigin
	ca       *certs.CA // pixelwall's
	proxyURL string
	mu       sync.Mutex
	events   []Event
}

// newBrowserWorld serves pages (host+path to HTML) besides the article.
func newBrowserWorld(t *testing.T, pages map[string]string) *browserWorld {
	t.Helper()
	bw := &browserWorld{origin: &pageOrigin{png: photoPNG(t), pages: pages, hits: make(map[string]int)}}
	originCA, _, err := certs.LoadOrCreate(certs.Options{Dir: t.TempDir(), Name: "test origin CA"})
	if err != nil {
		t.Fatal(err)
	}
	hl, tl := listen(t), listen(t)
	originTLS := certs.NewSigner(originCA, certs.SignerOptions{}).TLSConfig("origin.test") // leaf by SNI
	serveForTest(t, bw.origin, hl)
	serveForTest(t, bw.origin, tls.NewListener(tl, originTLS))

	if bw.ca, _, err = certs.LoadOrCreate(certs.Options{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	m := blocklist.Compile(blocklist.Defaults()...)
	pol := blocklist.NewPolicy(m, nil, nil)
	for _, st := range m.Lists() {
		if st.BadCount > 0 {
			t.Fatalf("list %s: %v", st.Name, st.Bad)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(originCA.Cert)
	tr := NewTransport(TransportOptions{RootCAs: roots})
	// Loopback only: port 443 goes to the origin's TLS listener, 80 to its
	// plain one, anything else is refused. CONNECT tunnels dial through here
	// too.
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		target := map[string]string{"443": tl.Addr().String(), "80": hl.Addr().String()}[p]
		if target == "" {
			return nil, fmt.Errorf("browser test: refusing to dial %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", target)
	}
	srv, err := New(Options{
		Policy:      func() *blocklist.Policy { return pol },
		Signer:      certs.NewSigner(bw.ca, certs.SignerOptions{}),
		CA:          bw.ca,
		Transport:   tr,
		Passthrough: []string{"bank.example.test"},
		Event: func(e Event) {
			bw.mu.Lock()
			bw.events = append(bw.events, e)
			bw.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pl := listen(t)
	serveForTest(t, srv, pl)
	t.Cleanup(srv.CloseIdleConnections)
	bw.proxyURL = "http://" + pl.Addr().String()
	return bw
}

// serveForTest serves h on l until the test ends, then closes every connection, so
// no socket outlives the test to squat on a port the next test wants.
func serveForTest(t testing.TB, h http.Handler, l net.Listener) {
	t.Helper()
	hs := &http.Server{Handler: h, ErrorLog: discardLog}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
}

// eventFor returns the first event of kind k for host, if any, and all
// events so far as "kind host" strings for messages.
func (bw *browserWorld) eventFor(k Kind, host string) (Event, bool, []string) {
	bw.mu.Lock()
	defer bw.mu.Unlock()
	var found Event
	var ok bool
	var all []string
	for _, e := range bw.events {
		all = append(all, string(e.Kind)+" "+e.Host)
		if e.Kind == k && e.Host == host && !ok {
			found, ok = e, true
		}
	}
	return found, ok, all
}

// photoPNG encodes a real 64×64 image.
func photoPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 4), 160, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// startChromium starts headless Chromium through the proxy and returns its
// context, which ends after timeout at the latest.
//
// CA trust, no NSS db needed: --ignore-certificate-errors-spki-list gets
// our CA's SPKI hash. Chromium (honouring it only with --user-data-dir)
// matches it against every certificate the server presents, not just the
// leaf; pixelwall sends [leaf, CA], so all its per-host leaves match. (By
// hand: the same leaf sent without the CA is refused.) The test checks that
// intercepted hosts load and that a leaf from another CA is still refused.
//
// Network: all traffic goes to the proxy on 127.0.0.1; strace shows one
// other socket, Chromium's IPv6 reachability probe (a UDP connect() to
// 2001:4860:4860::8888 that sends no packet).
func startChromium(t *testing.T, exe, proxyURL, spki string, timeout time.Duration) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "OptimizationHints,MediaRouter,Translate"),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("proxy-server", proxyURL),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		// Belt and braces: names Chromium would resolve itself (it leaves
		// proxied names to the proxy) resolve to nothing.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
		chromedp.WindowSize(1000, 800),
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	cctx, _ := chromedp.NewContext(actx)
	t.Cleanup(func() { // runs before the TempDir removals registered above
		qctx, qcancel := context.WithTimeout(cctx, 10*time.Second)
		chromedp.Cancel(qctx) // closes the browser gracefully
		qcancel()
		acancel() // kills it if it is still there, and waits
		cancel()
	})
	return cctx
}

// chromiumPath finds the browser, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (apt-get install chromium): skipping the browser test")
	return ""
}

type imgState struct {
	Src      string
	Complete bool
	W, H     int
}

func TestBrowserBlocksPixels(t *testing.T) {
	exe := chromiumPath(t)
	bw := newBrowserWorld(t, nil)
	ctx := startChromium(t, exe, bw.proxyURL, bw.ca.SPKIHash(), 60*time.Second)

	// Remember each response's request id, to read the unlisted pixel's body.
	var mu sync.Mutex
	reqIDs := map[string]network.RequestID{}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok {
			mu.Lock()
			reqIDs[e.Response.URL] = e.RequestID
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(articleURL)); err != nil {
		t.Fatalf("navigate %s: %v", articleURL, err)
	}
	imgs, err := chromedp.Run(ctx, chromedp.Evaluate[[]imgState](`Array.from(document.images, i =>
		({Src: i.src, Complete: i.complete, W: i.naturalWidth, H: i.naturalHeight}))`))
	if err != nil {
		t.Fatalf("reading images: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, "browser-pixels.png", shot)

	byURL := map[string]imgState{}
	for _, im := range imgs {
		byURL[im.Src] = im
	}
	if len(imgs) != 5 {
		t.Errorf("page has %d images, want 5: %+v", len(imgs), imgs)
	}
	for _, u := range []string{metaPixel, espPixel, unlistedPixel} {
		if im := byURL[u]; !im.Complete || im.W != 1 || im.H != 1 {
			t.Errorf("pixel %s: %+v, want a loaded 1×1 image", u, im)
		}
	}

	// Listed pixels: answered by pixelwall, never seen by the origin.
	for _, c := range []struct{ host, path string }{{"www.facebook.com", "/tr"}, {"u1234567.ct.sendgrid.net", "/wf/open"}} {
		if n := bw.origin.count(c.host + c.path); n != 0 {
			t.Errorf("origin saw %s%s %d times, want 0", c.host, c.path, n)
		}
		e, ok, all := bw.eventFor(KindBlocked, c.host)
		if !ok || e.List != blocklist.DefaultListName {
			t.Errorf("block event for %s = %+v (found %v), want one from list %q; events: %q", c.host, e, ok, blocklist.DefaultListName, all)
		}
	}
	// The unlisted pixel: fetched (the heuristic needs the response), then replaced.
	if n := bw.origin.count("pixel.unlisted-mailer.test/o/ab12cd34ef56.gif"); n != 1 {
		t.Errorf("origin saw the unlisted pixel %d times, want 1", n)
	}
	if e, ok, all := bw.eventFor(KindHeuristic, "pixel.unlisted-mailer.test"); !ok {
		t.Errorf("no heuristic event for the unlisted pixel; events: %q", all)
	} else {
		t.Logf("heuristic: %s", e.Detail)
	}
	mu.Lock()
	id, ok := reqIDs[unlistedPixel]
	mu.Unlock()
	if !ok {
		t.Errorf("browser saw no response for %s", unlistedPixel)
	} else if body, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id}); err != nil {
		t.Errorf("reading the unlisted pixel's body: %v", err)
	} else if !bytes.Equal(body.Body, transparentGIF) {
		t.Errorf("browser got % x for the unlisted pixel, want our transparent GIF", body.Body)
	}
	// Ordinary images render and reach the origin.
	for _, u := range []string{cdnPhoto, ownPhoto} {
		if im := byURL[u]; !im.Complete || im.W != 64 || im.H != 64 {
			t.Errorf("photo %s: %+v, want a rendered 64×64 image", u, im)
		}
		if n := bw.origin.count(strings.TrimPrefix(u, "https://")); n != 1 {
			t.Errorf("origin saw %s %d times, want 1", u, n)
		}
	}

	// The CA trust is not a blanket: a passthrough host's leaf, signed by
	// the origin's CA rather than ours, must still be refused.
	err = chromedp.Do(ctx, chromedp.Navigate("https://bank.example.test/"))
	var le *chromedp.LoadError
	if !errors.As(err, &le) || !strings.Contains(le.ErrorText, "ERR_CERT_AUTHORITY_INVALID") {
		t.Errorf("navigating to a host signed by an untrusted CA: err = %v, want ERR_CERT_AUTHORITY_INVALID", err)
	}
	if n := bw.origin.count("bank.example.test/"); n != 0 {
		t.Errorf("origin served bank.example.test %d times through an untrusted certificate", n)
	}
}
