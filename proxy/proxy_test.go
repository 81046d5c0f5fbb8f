package proxy

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// testRules allow for the origin's port: in the test world every URL has one,
// and "||host/path" wants the path right after the host.
const testRules = `
||cdn.test^*/track/pixel.gif
||tracker.test^
||beacon.test^*/collect$ping,xmlhttprequest
||scripts.test^*/ads.js
||tags.test^*/gtm.js$script,redirect=googletagmanager_gtm.js
||tags.test^*/fbevents.js$script,redirect=facebook_fbevents.js
`

func TestBlockedPixelAnsweredLocally(t *testing.T) {
	w := newWorld(t, worldOptions{rules: testRules})
	c := w.client(nil)
	noop, _ := blocklist.ResponseEmptyJS.Script()
	gtm, _ := blocklist.ResponseTagManager.Script()
	fb, _ := blocklist.ResponseMetaPixel.Script()
	tests := []struct {
		name, url   string
		headers     []string
		code        int
		contentType string
		body        []byte
		originPath  string
	}{
		{"https image", w.httpsURL("cdn.test", "/track/pixel.gif?uid=42"), []string{"Sec-Fetch-Dest", "image"}, 200, "image/gif", transparentGIF, "cdn.test/track/pixel.gif"},
		{"http image on blocked host", w.httpURL("tracker.test", "/p.gif"), []string{"Sec-Fetch-Dest", "image"}, 200, "image/gif", transparentGIF, "tracker.test/p.gif"},
		{"beacon", w.httpsURL("beacon.test", "/collect?e=1"), []string{"Sec-Fetch-Dest", "empty"}, 204, "", nil, "beacon.test/collect"},
		{"script", w.httpsURL("scripts.test", "/ads.js"), []string{"Sec-Fetch-Dest", "script"}, 200, "application/javascript; charset=utf-8", noop, "scripts.test/ads.js"},
		{"gtm stand-in", w.httpsURL("tags.test", "/gtm.js?id=GTM-AB12"), []string{"Sec-Fetch-Dest", "script"}, 200, "application/javascript; charset=utf-8", gtm, "tags.test/gtm.js"},
		{"fbevents stand-in", w.httpURL("tags.test", "/en_US/fbevents.js"), []string{"Accept", "*/*"}, 200, "application/javascript; charset=utf-8", fb, "tags.test/en_US/fbevents.js"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := w.get(c, tc.url, tc.headers...)
			if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != tc.contentType || !bytes.Equal(body, tc.body) {
				t.Errorf("GET %s = %d %q %q, want %d %q %q", tc.url, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.code, tc.contentType, tc.body)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("GET %s: Cache-Control %q, want no-store", tc.url, cc)
			}
			if n := w.origin.count(tc.originPath); n != 0 {
				t.Errorf("origin saw %s %d times, want 0", tc.originPath, n)
			}
		})
	}
	var responses []string
	for _, e := range w.eventsOf(KindBlocked) {
		responses = append(responses, e.Response)
	}
	if want := []string{"1x1-gif", "1x1-gif", "no-content", "empty-js", "stand-in-gtm.js", "stand-in-fbevents.js"}; !slices.Equal(responses, want) {
		t.Errorf("block events' responses = %q, want %q", responses, want)
	}
	// An allowed request on the same host reaches the origin.
	if resp, _ := w.get(c, w.httpsURL("cdn.test", "/img/photo.png"), "Sec-Fetch-Dest", "image"); resp.StatusCode != 200 || w.origin.count("cdn.test/img/photo.png") != 1 {
		t.Errorf("allowed image: status %d, origin hits %d", resp.StatusCode, w.origin.count("cdn.test/img/photo.png"))
	}
}

func TestHeuristicCatchesUnlistedPixel(t *testing.T) {
	w := newWorld(t, worldOptions{})
	c := w.client(nil)
	tests := []struct {
		name    string
		url     string
		headers []string
		ours    bool
	}{
		{"third-party 1x1", w.httpsURL("mailer.test", "/open/pixel.gif?r=ab12cd34ef56"), []string{"Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "cross-site"}, true},
		// Same-origin: only the mail client makes it a tracker.
		{"mail client 1x1", w.httpURL("esp.test", "/o/pixel.gif"), []string{"User-Agent", "Mozilla/5.0 Thunderbird/128.0", "Sec-Fetch-Site", "same-origin"}, true},
		{"same-site spacer", w.httpsURL("site.test", "/img/spacer.gif"), []string{"Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "same-origin"}, false},
		{"third-party real image", w.httpsURL("images.test", "/photo.png"), []string{"Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "cross-site"}, false},
		{"third-party favicon", w.httpsURL("icons.test", "/favicon.gif"), []string{"Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "cross-site"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := w.get(c, tc.url, tc.headers...)
			gotOurs := bytes.Equal(body, transparentGIF)
			if resp.StatusCode != 200 || gotOurs != tc.ours {
				t.Errorf("GET %s: status %d, replaced by ours = %v, want %v", tc.url, resp.StatusCode, gotOurs, tc.ours)
			}
			if !tc.ours && !bytes.Equal(body, originGIF) && !bytes.Equal(body, originPNG) {
				t.Errorf("GET %s: body changed though not a tracker", tc.url)
			}
		})
	}
	ev := w.eventsOf(KindHeuristic)
	if len(ev) != 2 {
		t.Fatalf("%d heuristic events, want 2: %+v", len(ev), ev)
	}
	for _, e := range ev {
		if e.Host == "esp.test" && !strings.Contains(e.Detail, "in a mail client") {
			t.Errorf("esp.test heuristic event detail %q, want it to name the mail client", e.Detail)
		}
	}
}

func TestCleaningAndHeaders(t *testing.T) {
	w := newWorld(t, worldOptions{rules: "$removeparam=utm_source\n$removeparam=fbclid\n"})
	c := w.client(nil)
	var echo map[string]string

	// A subresource is forwarded cleaned, with a trimmed cross-site Referer.
	_, body := w.get(c, w.httpsURL("api.test", "/echo?utm_source=news&id=7&fbclid=x"),
		"Sec-Fetch-Dest", "empty", "Referer", "https://site.test/article/secret-page?session=abc")
	if err := json.Unmarshal(body, &echo); err != nil {
		t.Fatalf("echo: %v: %s", err, body)
	}
	if echo["query"] != "id=7" {
		t.Errorf("origin saw query %q, want id=7", echo["query"])
	}
	if echo["referer"] != "https://site.test/" {
		t.Errorf("origin saw Referer %q, want https://site.test/", echo["referer"])
	}
	if echo["gpc"] != "1" || echo["dnt"] != "1" {
		t.Errorf("origin saw Sec-GPC %q DNT %q, want 1 and 1", echo["gpc"], echo["dnt"])
	}
	// A same-site Referer is left alone.
	_, body = w.get(c, w.httpsURL("www.site.test", "/echo"), "Sec-Fetch-Dest", "empty", "Referer", "https://site.test/a?b=c")
	echo = nil
	if err := json.Unmarshal(body, &echo); err != nil {
		t.Fatalf("echo: %v: %s", err, body)
	}
	if echo["referer"] != "https://site.test/a?b=c" {
		t.Errorf("same-site Referer became %q", echo["referer"])
	}

	// A navigation is redirected to the clean URL; the origin is not asked.
	resp, _ := w.get(c, w.httpsURL("site.test", "/landing?utm_source=ad&page=2"), "Sec-Fetch-Dest", "document")
	want := w.httpsURL("site.test", "/landing?page=2")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Errorf("navigation: %d Location %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if n := w.origin.count("site.test/landing"); n != 0 {
		t.Errorf("origin saw the tracked navigation %d times", n)
	}
	if ev := w.eventsOf(KindParamsStripped); len(ev) != 2 || strings.Join(ev[0].Removed, ",") != "utm_source,fbclid" {
		t.Errorf("params-stripped events = %+v", ev)
	}
	if ev := w.eventsOf(KindReferer); len(ev) != 1 {
		t.Errorf("referer events = %+v, want one", ev)
	}
}

func TestRefererStripPolicy(t *testing.T) {
	w := newWorld(t, worldOptions{tweak: func(o *Options) { o.Referer = RefererStripCrossSite; o.NoGPC = true }})
	resp, body := w.get(w.client(nil), w.httpsURL("api.test", "/echo"), "Referer", "https://site.test/x")
	var echo map[string]string
	if err := json.Unmarshal(body, &echo); resp.StatusCode != 200 || err != nil {
		t.Fatalf("echo: status %d, %v: %s", resp.StatusCode, err, body)
	}
	if echo["referer"] != "" || echo["gpc"] != "" {
		t.Errorf("origin saw Referer %q Sec-GPC %q, want neither", echo["referer"], echo["gpc"])
	}
}

func TestRedirectTrackerUnwrapped(t *testing.T) {
	w := newWorld(t, worldOptions{})
	target := "https://dest.test/article?id=1"
	resp, _ := w.get(w.client(nil), w.httpURL("www.google.test", "/url?sa=t&q="+url.QueryEscape(target)), "Sec-Fetch-Dest", "document")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != target {
		t.Errorf("got %d Location %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), target)
	}
	if w.origin.count("www.google.test/url") != 0 {
		t.Error("the redirect tracker was contacted")
	}
}

func TestPassthroughPresentsOriginCertificate(t *testing.T) {
	w := newWorld(t, worldOptions{})
	originOnly := x509.NewCertPool()
	originOnly.AddCert(w.originCA.Cert)
	resp, body := w.get(w.client(originOnly), w.httpsURL("bank.test", "/"))
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello from bank.test") {
		t.Fatalf("passthrough: %d %q", resp.StatusCode, body)
	}
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].Issuer.CommonName != "test origin CA" {
		t.Errorf("passthrough host presented a certificate from %v, want the origin's CA", resp.TLS.PeerCertificates[0].Issuer)
	}
	// An intercepted host presents ours.
	resp, _ = w.get(w.client(nil), w.httpsURL("news.test", "/"))
	if resp.TLS.PeerCertificates[0].Issuer.CommonName != w.ca.Cert.Subject.CommonName {
		t.Errorf("intercepted host presented a certificate from %v", resp.TLS.PeerCertificates[0].Issuer)
	}
}

func TestClientsOutsideAllowListRefused(t *testing.T) {
	w := newWorld(t, worldOptions{tweak: func(o *Options) { o.AllowClients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }})
	resp, _ := w.get(w.client(nil), w.httpURL("site.test", "/"))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("status %d, want 403", resp.StatusCode)
	}
	if w.origin.count("site.test/") != 0 {
		t.Error("origin reached by a refused client")
	}
	if ev := w.eventsOf(KindAccessRefused); len(ev) != 1 || ev[0].Client != "127.0.0.1" {
		t.Errorf("access-refused events = %+v", ev)
	}
}

func TestPinnedHostTunnelledAfterRejections(t *testing.T) {
	w := newWorld(t, worldOptions{})
	// The client trusts our CA: another host works intercepted.
	w.get(w.client(nil), w.httpsURL("news.test", "/"))
	// An app that pins pinned.test rejects our certificate twice.
	pinning := w.client(x509.NewCertPool())
	for range 2 {
		if _, err := pinning.Get(w.httpsURL("pinned.test", "/")); err == nil {
			t.Fatal("a client with no roots accepted a certificate")
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(w.eventsOf(KindPinned)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the proxy sees the alert after the client gives up
	}
	if ev := w.eventsOf(KindPinned); len(ev) != 1 || ev[0].Host != "pinned.test" {
		t.Fatalf("pinned events = %+v, want one for pinned.test", ev)
	}
	// From now on the host is tunnelled: the client sees the origin's certificate.
	originOnly := x509.NewCertPool()
	originOnly.AddCert(w.originCA.Cert)
	resp, _ := w.get(w.client(originOnly), w.httpsURL("pinned.test", "/"))
	if resp.StatusCode != 200 {
		t.Errorf("tunnelled pinned host: status %d", resp.StatusCode)
	}
}

func TestCertificateRejectionWithoutTrustDoesNotPin(t *testing.T) {
	w := newWorld(t, worldOptions{})
	noRoots := w.client(x509.NewCertPool()) // has not installed the CA yet
	for range 3 {
		noRoots.Get(w.httpsURL("news.test", "/"))
	}
	time.Sleep(50 * time.Millisecond)
	if ev := w.eventsOf(KindPinned); len(ev) != 0 {
		t.Errorf("pinned %+v for a client that never trusted our CA", ev)
	}
}

func TestOwnPages(t *testing.T) {
	w := newWorld(t, worldOptions{})
	c := w.client(nil)
	resp, body := w.get(c, "http://"+OwnHost+"/ca.pem")
	if resp.StatusCode != 200 || !bytes.Equal(body, w.ca.CertPEM()) {
		t.Errorf("ca.pem: %d, %d bytes", resp.StatusCode, len(body))
	}
	_, body = w.get(c, "http://"+OwnHost+"/ca.crt")
	if !bytes.Equal(body, w.ca.CertDER()) {
		t.Error("ca.crt is not the CA's DER")
	}
	_, body = w.get(c, "http://"+OwnHost+"/")
	if !strings.Contains(string(body), w.ca.Fingerprint()) {
		t.Error("index page lacks the CA fingerprint")
	}
	// Opening the listener directly (not as a proxy) serves the pages too.
	direct, err := http.Get(w.proxyURL.String() + "/proxy.pac")
	if err != nil {
		t.Fatal(err)
	}
	pac, _ := io.ReadAll(direct.Body)
	direct.Body.Close()
	if !strings.Contains(string(pac), "PROXY "+w.proxyURL.Host) {
		t.Errorf("proxy.pac = %s, want PROXY %s", pac, w.proxyURL.Host)
	}
}

func TestBlockPageAndAllowForAnHour(t *testing.T) {
	w := newWorld(t, worldOptions{rules: "||blocked.test^\n"})
	c := w.client(nil)
	page := w.httpURL("blocked.test", "/story")
	resp, body := w.get(c, page, "Sec-Fetch-Dest", "document")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "||blocked.test^") {
		t.Fatalf("block page: %d %s", resp.StatusCode, body)
	}
	i := strings.Index(string(body), `href="`)
	allow := strings.ReplaceAll(string(body[i+6:i+6+strings.Index(string(body[i+6:]), `"`)]), "&amp;", "&")
	// A forged link does nothing.
	if resp, _ := w.get(c, strings.Replace(allow, "sig=", "sig=00", 1)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged allow link: %d, want 403", resp.StatusCode)
	}
	resp, _ = w.get(c, allow)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != page {
		t.Fatalf("allow link: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := w.get(c, page, "Sec-Fetch-Dest", "document"); resp.StatusCode != 200 || w.origin.count("blocked.test/story") != 1 {
		t.Errorf("after allowing: %d, origin hits %d", resp.StatusCode, w.origin.count("blocked.test/story"))
	}
}

func TestWebSocketThroughInterception(t *testing.T) {
	w := newWorld(t, worldOptions{})
	req, _ := http.NewRequest(http.MethodGet, w.httpsURL("chat.test", "/ws"), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	c := w.client(nil)
	c.Timeout = 0 // a client timeout wraps the body and hides its Write
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	rw, ok := resp.Body.(io.ReadWriter)
	if !ok {
		t.Fatal("upgraded body is not writable")
	}
	if _, err := rw.Write([]byte("ping through pixelwall")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(rw, buf, len("ping through pixelwall"))
	if err != nil || string(buf[:n]) != "ping through pixelwall" {
		t.Errorf("echo = %q, %v", buf[:n], err)
	}
}

func TestMalformedInputDoesNotCrash(t *testing.T) {
	w := newWorld(t, worldOptions{rules: testRules})
	inputs := []string{
		"GARBAGE\r\n\r\n",
		"CONNECT \r\n\r\n",
		"CONNECT :443 HTTP/1.1\r\nHost: :443\r\n\r\n",
		"CONNECT [::1 HTTP/1.1\r\n\r\n",
		"GET http://%zz/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://site.test:" + w.httpPort + "/ HTTP/1.1\r\nHost: site.test\r\nContent-Length: -1\r\n\r\n",
		"CONNECT news.test:" + w.tlsPort + " HTTP/1.1\r\n\r\n\x16\x03\x01\x00\x05hello",
		"CONNECT news.test:" + w.tlsPort + " HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	}
	for _, in := range inputs {
		conn, err := net.DialTimeout("tcp", w.proxyURL.Host, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
		io.WriteString(conn, in)
		io.ReadAll(bufio.NewReader(conn))
		conn.Close()
	}
	// Still serving.
	if resp, _ := w.get(w.client(nil), w.httpsURL("site.test", "/")); resp.StatusCode != 200 {
		t.Errorf("after malformed input: status %d", resp.StatusCode)
	}
}

func TestRequestType(t *testing.T) {
	tests := []struct {
		headers []string
		path    string
		want    string
	}{
		{[]string{"Sec-Fetch-Dest", "image"}, "/x", "image"},
		{[]string{"Sec-Fetch-Dest", "iframe"}, "/x", "subdocument"},
		{[]string{"Sec-Fetch-Dest", "document"}, "/x.gif", "document"},
		{[]string{"Sec-Fetch-Dest", "empty"}, "/api", "xmlhttprequest"},
		{[]string{"Sec-Fetch-Dest", "empty", "Content-Type", "text/ping"}, "/p", "ping"},
		{[]string{"Accept", "image/avif,image/webp,*/*"}, "/x", "image"},
		{[]string{"Accept", "text/css,*/*;q=0.1"}, "/x", "stylesheet"},
		{[]string{"Accept", "text/html,application/xhtml+xml"}, "/x", "document"},
		{[]string{"Accept", "*/*", "Referer", "https://a.test/"}, "/lib.js", "script"},
		{[]string{"Accept", "*/*", "Referer", "https://a.test/"}, "/p.gif", "image"},
		{[]string{"Upgrade", "websocket"}, "/ws", "websocket"},
		// No Sec-Fetch-Dest: a document only when Accept asks for HTML.
		{[]string{"Accept", "*/*"}, "/tr?id=1&ev=PageView", "other"},
		{nil, "/tr", "other"},
		{nil, "/", "other"},
		{[]string{"Accept", "*/*"}, "/index.php", "other"},
		{[]string{"Accept", "*/*"}, "/page.html", "other"},
		{[]string{"Accept", "text/html, */*; q=0.01", "X-Requested-With", "XMLHttpRequest"}, "/frag", "document"},
		{[]string{"Accept", "*/*", "X-Requested-With", "XMLHttpRequest"}, "/api/items", "xmlhttprequest"},
		{[]string{"Accept", "application/json"}, "/api/items", "xmlhttprequest"},
		{[]string{"Accept", "text/javascript, application/javascript"}, "/x", "script"},
		{nil, "/pixel.gif?u=1", "image"},
		// Mail apps: what they load without a known type is an image.
		{[]string{"Accept", "*/*", "User-Agent", outlookUA}, "/o/eJxNjz1uwzAMRs", "image"},
		{[]string{"User-Agent", thunderbirdUA}, "/open", "image"},
		{[]string{"Accept", "*/*", "User-Agent", appleMailUA}, "/e/o/abc", "image"},
		{[]string{"Accept", "*/*", "User-Agent", outlookUA}, "/style.css", "stylesheet"},
		{[]string{"Accept", "*/*", "User-Agent", safariUA}, "/o/abc", "other"},
	}
	for _, tc := range tests {
		r, _ := http.NewRequest(http.MethodGet, "https://x.test"+tc.path, nil)
		for i := 0; i+1 < len(tc.headers); i += 2 {
			r.Header.Set(tc.headers[i], tc.headers[i+1])
		}
		if got := RequestType(r.Header, r.URL.Path).String(); got != tc.want {
			t.Errorf("requestType(%v %s) = %s, want %s", tc.headers, tc.path, got, tc.want)
		}
	}
}

// User-Agents as these clients send them.
const (
	outlookUA     = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
	thunderbirdUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
	appleMailUA   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
	safariUA      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
	chromeUA      = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	gmailProxyUA  = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
	yahooProxyUA  = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
)

func TestIsMailClient(t *testing.T) {
	for ua, want := range map[string]bool{
		outlookUA: true, thunderbirdUA: true, appleMailUA: true, gmailProxyUA: true, yahooProxyUA: true,
		"Evolution/3.52.4": true, "Mail/3826.400.131.1.6 CFNetwork/1496.0.7 Darwin/23.5.0": true,
		safariUA: false, chromeUA: false, "": false, "curl/8.11.0": false,
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0": false,
	} {
		if got := isMailClient(http.Header{"User-Agent": {ua}}); got != want {
			t.Errorf("isMailClient(%q) = %v, want %v", ua, got, want)
		}
	}
}

// TestClassify: source, type and party as the proxy decides on them.
func TestClassify(t *testing.T) {
	tests := []struct {
		url     string
		headers []string
		typ     blocklist.Type
		source  string
		third   bool
	}{
		{"https://www.facebook.com/tr?id=1&ev=PageView", []string{"Accept", "*/*"}, blocklist.TypeOther, "", true},
		{"https://cdn.shop.test/a.png", []string{"Referer", "https://www.shop.test/p"}, blocklist.TypeImage, "www.shop.test", false},
		{"https://cdn.other.test/a.png", []string{"Origin", "https://www.shop.test"}, blocklist.TypeImage, "www.shop.test", true},
		{"https://cdn.other.test/a.png", []string{"Referer", "https://www.shop.test/", "Sec-Fetch-Site", "same-site"}, blocklist.TypeImage, "www.shop.test", false},
		{"https://email.mg.brand.test/o/eJx1", []string{"Accept", "*/*", "User-Agent", outlookUA}, blocklist.TypeImage, "", true},
		{"https://shop.test", []string{"Accept", "text/html,application/xhtml+xml"}, blocklist.TypeDocument, "", true},
	}
	var breq blocklist.Request
	for _, tc := range tests {
		h := http.Header{}
		for i := 0; i+1 < len(tc.headers); i += 2 {
			h.Set(tc.headers[i], tc.headers[i+1])
		}
		if err := Classify(&breq, tc.url, h); err != nil {
			t.Errorf("Classify(%s): %v", tc.url, err)
			continue
		}
		if breq.Type != tc.typ || breq.SourceHost != tc.source || breq.ThirdParty != tc.third {
			t.Errorf("Classify(%s, %v) = %v from %q third-party %v; want %v from %q %v", tc.url, tc.headers, breq.Type, breq.SourceHost, breq.ThirdParty, tc.typ, tc.source, tc.third)
		}
	}
	if err := Classify(&breq, "not a url", nil); err == nil {
		t.Error("Classify(not a url) succeeded")
	}
}

func TestImageSize(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		w, h int
		ok   bool
	}{
		{"gif", originGIF, 1, 1, true},
		{"png", originPNG, 64, 64, true},
		{"webp lossless", []byte("RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 1, 1, true},
		{"webp extended", []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x01\x00\x00"), 2, 2, true},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x04JF\xff\xc0\x00\x11\x08\x00\x02\x00\x03\x03\x01\x22\x00"), 3, 2, true},
		{"truncated", []byte("GIF89a\x01"), 0, 0, false},
		{"html", []byte("<html>"), 0, 0, false},
	}
	for _, tc := range tests {
		w, h, ok := imageSize(tc.data)
		if w != tc.w || h != tc.h || ok != tc.ok {
			t.Errorf("imageSize(%s) = %d×%d %v, want %d×%d %v", tc.name, w, h, ok, tc.w, tc.h, tc.ok)
		}
	}
}

// google.* is Google's name under any public suffix, not a subdomain of
// someone else's domain nor a name under a hosting suffix.
func TestRedirectorHost(t *testing.T) {
	for host, want := range map[string]bool{
		"www.google.com": true, "google.co.uk": true, "www.google.com.au": true, "google.test": true,
		"google.evil.com": false, "www.google.evil.co.uk": false, "google.herokuapp.com": false, "notgoogle.com": false,
	} {
		if got := redirectorHost(host, "google.*"); got != want {
			t.Errorf("redirectorHost(%q, google.*) = %v, want %v", host, got, want)
		}
	}
}

func TestOptionsEnumsChecked(t *testing.T) {
	w := newWorld(t, worldOptions{})
	pol := w.lists.Policy
	if _, err := New(Options{Policy: pol, Intercept: "some", Referer: RefererKeep}); err == nil {
		t.Error("New accepted intercept \"some\"")
	}
	if _, err := New(Options{Policy: pol, Intercept: InterceptNone, Referer: "drop"}); err == nil {
		t.Error("New accepted referer \"drop\"")
	}
	var i Intercept
	if err := i.UnmarshalText([]byte("listed")); err != nil || i != InterceptListed {
		t.Errorf("UnmarshalText(listed) = %q, %v", i, err)
	}
}

// TestBlockedHostWithStandInIntercepted: a host blocked whole (as
// EasyPrivacy's ||googletagmanager.com^ blocks it) whose script has a
// stand-in is intercepted, not refused, so the page gets the stand-in; its
// other requests are still blocked, and nothing reaches it.
func TestBlockedHostWithStandInIntercepted(t *testing.T) {
	w := newWorld(t, worldOptions{rules: "||tags.test^\n||tags.test^*/gtm.js$script,redirect=googletagmanager_gtm.js\n||tracker.test^\n"})
	c := w.client(nil)
	gtm, _ := blocklist.ResponseTagManager.Script()
	resp, body := w.get(c, w.httpsURL("tags.test", "/gtm.js?id=GTM-AB12"), "Sec-Fetch-Dest", "script")
	if resp.StatusCode != 200 || !bytes.Equal(body, gtm) {
		t.Errorf("gtm.js on a blocked host = %d, %d bytes; want 200 with the stand-in", resp.StatusCode, len(body))
	}
	resp, _ = w.get(c, w.httpsURL("tags.test", "/collect?v=2"), "Sec-Fetch-Dest", "empty")
	if resp.StatusCode != http.StatusNoContent || !strings.HasPrefix(resp.Header.Get("X-Pixelwall"), "blocked by") {
		t.Errorf("collect on a blocked host = %d %q, want a 204 from pixelwall", resp.StatusCode, resp.Header.Get("X-Pixelwall"))
	}
	if n := w.origin.count("tags.test/gtm.js") + w.origin.count("tags.test/collect"); n != 0 {
		t.Errorf("origin saw tags.test %d times, want 0", n)
	}
	if ev := w.eventsOf(KindConnectRefused); len(ev) != 0 {
		t.Errorf("connect-refused events = %+v, want none for a host with a stand-in", ev)
	}
	// A blocked host with no stand-in is answered by pixelwall over our
	// certificate (the HTTPS block page path), never dialled.
	resp, _ = w.get(c, w.httpsURL("tracker.test", "/p.gif"), "Sec-Fetch-Dest", "image")
	if resp.Header.Get("Content-Type") != "image/gif" || w.origin.count("tracker.test/p.gif") != 0 {
		t.Errorf("image on tracker.test, blocked whole = %d %q, origin hits %d; want our GIF, no contact",
			resp.StatusCode, resp.Header.Get("Content-Type"), w.origin.count("tracker.test/p.gif"))
	}
}
