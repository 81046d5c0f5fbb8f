package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/certs"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// Three reloads of a large list leave the live heap at one policy's size:
// nothing keeps an old snapshot alive.
func TestReloadsKeepOneSnapshot(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 300_000 {
		fmt.Fprintf(&b, "0.0.0.0 host%d.tracker%d.example\n", i, i%97)
	}
	list := writeFile(t, "big.txt", b.String())
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
dns: {listen: "127.0.0.1:0", upstreams: ["%s"]}
dashboard: {listen: "off"}
lists: [{name: big, path: %q}]
`, dnsStub(t), list))
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(cfg, cfgPath, dir, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	one := heap()
	for range 3 {
		a.reload()
	}
	after := heap()
	if n := a.lists.Policy().Matcher().Lists(); len(n) < 3 || n[len(n)-1].Hostnames < 300_000 {
		t.Fatalf("the big list is not loaded: %+v", n)
	}
	// One policy of this list is tens of MB; a kept old one would add as much again.
	if after > one+one/4 {
		t.Errorf("live heap %d MB after three reloads, %d MB after start: an old policy is kept", after>>20, one>>20)
	}
	t.Logf("live heap: %d MB after start, %d MB after three reloads", one>>20, after>>20)
}

// SIGTERM (the run context ending) lets an intercepted HTTPS download in
// flight finish within the grace period, and the block log keeps what was
// decided before the stop.
func TestShutdownDrainsInterceptedDownload(t *testing.T) {
	dir := t.TempDir()
	originCA, _, err := certs.LoadOrCreate(certs.Options{Dir: filepath.Join(dir, "origin-ca"), Name: "test origin CA"})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 6 {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
			if i == 0 {
				close(started)
			}
			time.Sleep(150 * time.Millisecond)
		}
	}), ErrorLog: discardLogger()}
	go origin.Serve(tls.NewListener(ln, certs.NewSigner(originCA, certs.SignerOptions{}).TLSConfig("slow.test")))
	defer origin.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	data := filepath.Join(dir, "data")
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
http: {listen: "127.0.0.1:0", upstream_ca_file: %q}
dns: {listen: "127.0.0.1:0", upstreams: ["%s"]}
dashboard: {listen: "off"}
deny: ["tracker.test"]
`, originCA.CertPath(), dnsStub(t)))
	addr, stop, _ := startRun(t, "-config", cfgPath, "-data", data, "-no-refresh")

	ours, err := os.ReadFile(filepath.Join(data, "ca", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ours)
	proxyURL := &url.URL{Scheme: "http", Host: addr}
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if resp, err := c.Get("http://tracker.test:" + port + "/p.gif"); err == nil {
		resp.Body.Close()
	}
	resp, err := c.Get("https://slow.test:" + port + "/download")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-started
	code := make(chan int, 1)
	go func() { code <- stop() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || strings.Count(string(body), "chunk") != 6 {
		t.Errorf("download cut by the stop: %q, %v", body, err)
	}
	if c := <-code; c != 0 {
		t.Errorf("exit code %d, want 0", c)
	}
	l, err := blocklog.Open(blocklog.Options{Path: filepath.Join(data, "log", "pixelwall.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	entries, err := l.Query(context.Background(), blocklog.Filter{Host: "tracker.test"})
	if err != nil || len(entries) == 0 {
		t.Errorf("the block made before the stop is not in the log: %v, %v", entries, err)
	}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// A reload names the settings it cannot apply; lists, allow and deny it
// applies.
func TestRestartKeys(t *testing.T) {
	old := defaultConfig()
	same := defaultConfig()
	same.Allow = []string{"example.com"}
	same.Lists = nil
	if keys := restartKeys(old, same); len(keys) != 0 {
		t.Errorf("lists and allow changed: restart keys %v, want none", keys)
	}
	changed := defaultConfig()
	changed.HTTP.Listen = "127.0.0.1:9999"
	changed.Log.KeepQueryValues = true
	changed.DNS.Upstreams = []string{"127.0.0.1:53"}
	if got, want := strings.Join(restartKeys(old, changed), " "), "http.listen dns.upstreams log.keep_query_values"; got != want {
		t.Errorf("restart keys %q, want %q", got, want)
	}
}

// The first run says how to set up, with the real addresses.
func TestFirstRunSaysHowToSetUp(t *testing.T) {
	data := t.TempDir()
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
dns: {listen: "off", upstreams: ["%s"]}
dashboard: {listen: "127.0.0.1:0"}
`, dnsStub(t)))
	addr, stop, out := startRun(t, "-config", cfgPath, "-data", data, "-no-refresh")
	dash := waitLine(t, out, "dashboard listening on ")
	waitLine(t, out, "  3. ")
	stop()
	for _, want := range []string{"proxy to " + addr, "http://" + addr + "/proxy.pac", "Open http://" + addr + "/ and install", "at " + dash} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("first run output lacks %q:\n%s", want, out.String())
		}
	}
	_, stop, out = startRun(t, "-config", cfgPath, "-data", data, "-no-refresh")
	stop()
	if strings.Contains(out.String(), "To start:") {
		t.Errorf("the second run repeats the set-up steps:\n%s", out.String())
	}
}

// After `pixelwall ca regenerate`, a SIGHUP makes the running proxy sign
// with the new CA.
func TestSIGHUPPicksUpRegeneratedCA(t *testing.T) {
	dir := t.TempDir()
	originCA, _, err := certs.LoadOrCreate(certs.Options{Dir: filepath.Join(dir, "origin-ca"), Name: "test origin CA"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), ErrorLog: discardLogger()}
	go origin.Serve(tls.NewListener(ln, certs.NewSigner(originCA, certs.SignerOptions{}).TLSConfig("site.test")))
	defer origin.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	data := filepath.Join(dir, "data")
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
http: {listen: "127.0.0.1:0", upstream_ca_file: %q}
dns: {listen: "off", upstreams: ["%s"]}
dashboard: {listen: "off"}
`, originCA.CertPath(), dnsStub(t)))
	addr, stop, _ := startRun(t, "-config", cfgPath, "-data", data, "-no-refresh")
	defer stop()
	leaf := func() *x509.Certificate {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "CONNECT site.test:%s HTTP/1.1\r\nHost: site.test:%s\r\n\r\n", port, port)
		buf := make([]byte, len("HTTP/1.1 200 Connection established\r\n\r\n"))
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: "site.test", InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		return tc.ConnectionState().PeerCertificates[0]
	}
	caCert := func() *x509.Certificate {
		t.Helper()
		ca, _, err := certs.LoadOrCreate(certs.Options{Dir: filepath.Join(data, "ca")})
		if err != nil {
			t.Fatal(err)
		}
		return ca.Cert
	}
	first := caCert()
	if err := leaf().CheckSignatureFrom(first); err != nil {
		t.Fatalf("the leaf is not signed by the install's CA: %v", err)
	}
	if code, _, errOut := runCmd(t, "", "ca", "-data", data, "regenerate"); code != 0 {
		t.Fatalf("ca regenerate: %d %s", code, errOut)
	}
	second := caCert()
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if leaf().CheckSignatureFrom(second) == nil && !bytes.Equal(second.Raw, first.Raw) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("after ca regenerate and SIGHUP the proxy still signs with the old CA")
		}
	}
}
