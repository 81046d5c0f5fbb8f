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
	"strings"
	"testing"
	"time"
)

// testRules allow for the origin's port: in the test world every URL has one,
// and "||host/path" wants the path right after the host.
const testRules = `
||cdn.test^*/track/pixel.gif
||tracker.test^
||beacon.test^*/collect$ping,xmlhttprequest
||scripts.test^*/ads.js
`

func TestBlockedPixelAnsweredLocally(t *testing.T) {
	w := newWorld(t, worldOptions{rules: testRules})
	c := w.client(nil)
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
		{"script", w.httpsURL("scripts.test", "/ads.js"), []string{"Sec-Fetch-Dest", "script"}, 200, "application/javascript; charset=utf-8", nil, "scripts.test/ads.js"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := w.get(c, tc.url, tc.headers...)
			if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != tc.contentType || !bytes.Equal(body, tc.body) {
				t.Errorf("GET %s = %d %q %q, want %d %q %q", tc.url, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.code, tc.contentType, tc.body)
			}
			if n := w.origin.count(tc.originPath); n != 0 {
				t.Errorf("origin saw %s %d times, want 0", tc.originPath, n)
			}
		})
	}
	if got := len(w.eventsOf(KindBlocked)); got != len(tests) {
		t.Errorf("%d block events, want %d", got, len(tests))
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
	}
	for _, tc := range tests {
		r, _ := http.NewRequest(http.MethodGet, "https://x.test"+tc.path, nil)
		for i := 0; i+1 < len(tc.headers); i += 2 {
			r.Header.Set(tc.headers[i], tc.headers[i+1])
		}
		if got := requestType(r).String(); got != tc.want {
			t.Errorf("requestType(%v %s) = %s, want %s", tc.headers, tc.path, got, tc.want)
		}
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
