package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/certs"
	"github.com/pixelwall/pixelwall/proxy"
)

// TestCheckAgreesWithProxy sends the same requests, with and without the
// headers real clients send, through a running proxy (with the embedded
// lists, in front of an origin on loopback that counts what reaches it) and
// through `pixelwall check -`, and requires the same decision, rule and
// response from both.
func TestCheckAgreesWithProxy(t *testing.T) {
	const (
		outlook     = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)"
		thunderbird = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
		chrome      = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
		metaPixel   = "https://www.facebook.com/tr?id=1&ev=PageView"
		mailgunOpen = "https://email.mg.brand.example/o/eJxNjz1uwzAMRs-SuUAl0pQsD0HQoUAaFOgF0k0ySRdZtiTHdpGidy8zBOjAheS9j-TCG3sAsd8"
	)
	cases := []struct {
		url     string
		headers map[string]string
		block   bool // what both must say
	}{
		{metaPixel, nil, true},
		{metaPixel, map[string]string{"Accept": "*/*"}, true},
		{metaPixel, map[string]string{"Accept": "*/*", "User-Agent": outlook}, true},
		{metaPixel, map[string]string{"Accept": "image/avif,image/webp,*/*", "User-Agent": thunderbird}, true},
		{metaPixel, map[string]string{"Sec-Fetch-Dest": "image", "Sec-Fetch-Site": "cross-site", "Referer": "https://news.example.test/", "User-Agent": chrome}, true},
		{metaPixel, map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, false}, // a navigation
		{"https://u1234567.ct.sendgrid.net/wf/open?upn=Xy7-2BqLmN3-2FabcDEF0123456789-3D-3D", map[string]string{"Accept": "*/*", "User-Agent": thunderbird}, true},
		{mailgunOpen, map[string]string{"Accept": "*/*", "User-Agent": outlook}, true}, // a mail app's load is an image
		{mailgunOpen, map[string]string{"Accept": "*/*"}, true},                        // an unknown client's is other, which open-pixel rules cover too
		{"https://www.google-analytics.com/analytics.js", map[string]string{"Accept": "*/*"}, true},
		{"https://www.googletagmanager.com/gtm.js?id=GTM-AB12CD", map[string]string{"Accept": "*/*", "Referer": "https://shop.example.test/"}, true},
		{"https://www.facebook.com/somepage", map[string]string{"Accept": "*/*"}, false},
		{"https://news.example.test/article", map[string]string{"Accept": "text/html", "User-Agent": chrome}, false},
		{"https://cdn.example.test/photo.png", map[string]string{"Accept": "image/avif,image/webp,*/*", "Referer": "https://news.example.test/article"}, false},
	}

	pw := startProxyWorld(t)
	type verdict struct{ decision, rule, response string }
	var viaProxy []verdict
	for _, c := range cases {
		viaProxy = append(viaProxy, pw.decide(t, c.url, c.headers))
	}

	var in strings.Builder
	for _, c := range cases {
		b, _ := json.Marshal(checkInput{URL: c.url, Headers: c.headers})
		in.Write(append(b, '\n'))
	}
	code, out, errOut := runCmd(t, in.String(), "check", "-data", t.TempDir(), "-")
	if code != 0 {
		t.Fatalf("check exited %d: %s", code, errOut)
	}
	lines := decodeLines(t, out)
	if len(lines) != len(cases) {
		t.Fatalf("check printed %d lines for %d requests:\n%s", len(lines), len(cases), out)
	}
	for i, c := range cases {
		ck := verdict{decision: "pass", rule: fmt.Sprint(lines[i]["rule"]), response: fmt.Sprint(lines[i]["response"])}
		if lines[i]["decision"] == "block" {
			ck.decision = "block"
		} else {
			ck.rule, ck.response = "", ""
		}
		want := "pass"
		if c.block {
			want = "block"
		}
		if ck != viaProxy[i] || ck.decision != want {
			t.Errorf("%s %v:\n\tproxy %+v\n\tcheck %+v\n\twant %s from both", c.url, c.headers, viaProxy[i], ck, want)
		}
	}
}

// proxyWorld is pixelwall's proxy with the embedded lists, in front of an
// origin that answers every name on loopback.
type proxyWorld struct {
	client *http.Client
	mu     sync.Mutex
	events []proxy.Event
	hits   map[string]int
}

func startProxyWorld(t *testing.T) *proxyWorld {
	t.Helper()
	pw := &proxyWorld{hits: make(map[string]int)}
	originCA, _, err := certs.LoadOrCreate(certs.Options{Dir: t.TempDir(), Name: "test origin CA"})
	if err != nil {
		t.Fatal(err)
	}
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pw.mu.Lock()
		pw.hits[r.Host+r.URL.Path]++
		pw.mu.Unlock()
		io.WriteString(w, "origin")
	})
	tl := listenLoopback(t)
	serveUntilCleanup(t, origin, tls.NewListener(tl, certs.NewSigner(originCA, certs.SignerOptions{}).TLSConfig("origin.test")))

	ca, _, err := certs.LoadOrCreate(certs.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(originCA.Cert)
	tr := proxy.NewTransport(proxy.TransportOptions{RootCAs: roots})
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, p, _ := net.SplitHostPort(addr); p != "443" {
			return nil, fmt.Errorf("test: refusing to dial %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", tl.Addr().String())
	}
	t.Cleanup(tr.CloseIdleConnections)
	pol := blocklist.NewPolicy(blocklist.Compile(blocklist.Defaults()...), nil, nil)
	srv, err := proxy.New(proxy.Options{
		Policy:    func() *blocklist.Policy { return pol },
		Signer:    certs.NewSigner(ca, certs.SignerOptions{}),
		CA:        ca,
		Transport: tr,
		Event: func(e proxy.Event) {
			pw.mu.Lock()
			pw.events = append(pw.events, e)
			pw.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pl := listenLoopback(t)
	serveUntilCleanup(t, srv, pl)
	ours := x509.NewCertPool()
	ours.AddCert(ca.Cert)
	pw.client = &http.Client{
		Transport: &http.Transport{
			Proxy:             http.ProxyURL(&url.URL{Scheme: "http", Host: pl.Addr().String()}),
			TLSClientConfig:   &tls.Config{RootCAs: ours},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	return pw
}

// decide sends one request through the proxy and reports what it did: a
// block (with the rule and response of its event, and the origin not
// reached) or a pass.
func (pw *proxyWorld) decide(t *testing.T, rawURL string, headers map[string]string) (v struct{ decision, rule, response string }) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, val := range headers {
		req.Header.Set(k, val)
	}
	u, _ := url.Parse(rawURL)
	pw.mu.Lock()
	before, hitsBefore := len(pw.events), pw.hits[u.Host+u.Path]
	pw.mu.Unlock()
	resp, err := pw.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s through the proxy: %v", rawURL, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	pw.mu.Lock()
	defer pw.mu.Unlock()
	reached := pw.hits[u.Host+u.Path] > hitsBefore
	v.decision = "pass"
	for _, e := range pw.events[before:] {
		if e.Kind == proxy.KindBlocked {
			v.decision, v.rule, v.response = "block", e.Rule, e.Response
		}
	}
	if (v.decision == "block") == reached {
		t.Errorf("GET %s %v: proxy said %s but the origin was reached: %v", rawURL, headers, v.decision, reached)
	}
	return v
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func serveUntilCleanup(t *testing.T, h http.Handler, l net.Listener) {
	hs := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
}
