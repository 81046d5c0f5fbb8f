package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsStub answers every A query with 127.0.0.1.
func dnsStub(t *testing.T) string {
	t.Helper()
	return dnsStubAnswering(t, net.IPv4(127, 0, 0, 1))
}

// dnsStubAnswering is dnsStub answering every A query with ip.
func dnsStubAnswering(t *testing.T, ip net.IP) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: ip})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// lockedBuffer collects a command's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startRun runs `pixelwall run` in-process and returns the proxy's address,
// a function that stops it and returns its exit code, and its stdout.
func startRun(t *testing.T, args ...string) (addr string, stop func() int, out *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	out = &lockedBuffer{}
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"run"}, args...), strings.NewReader(""), pw, &stderr)
		pw.Close()
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(10 * time.Second)
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("run exited before listening: %d; stderr:\n%s", <-done, stderr.String())
			}
			if a, found := strings.CutPrefix(l, "http proxy listening on "); found {
				addr = a
			}
		case <-timeout:
			t.Fatalf("run did not start; stderr:\n%s", stderr.String())
		}
	}
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
				for range lines {
				}
			case <-time.After(15 * time.Second):
				t.Error("run did not stop")
			}
		})
		return code
	}
	return addr, stop, out
}

// waitLine waits for run to print a line starting with prefix and returns
// the rest of it.
func waitLine(t *testing.T, out *lockedBuffer, prefix string) string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, l := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return rest
			}
		}
	}
	t.Fatalf("run never printed %q; it printed:\n%s", prefix, out.String())
	return ""
}

func TestRunProxiesAndReloads(t *testing.T) {
	origin := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "origin:"+r.Host)
	})}
	ol, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go origin.Serve(ol)
	defer origin.Close()
	_, port, _ := net.SplitHostPort(ol.Addr().String())

	dir := t.TempDir()
	stubAddr := dnsStub(t)
	cfgPath := filepath.Join(dir, "pixelwall.yaml")
	writeCfg := func(deny string) {
		cfg := "lists: []\nhttp:\n  listen: 127.0.0.1:0\ndns:\n  listen: 127.0.0.1:0\n  upstreams: [" + stubAddr + "]\ndeny:\n  - " + deny + "\n"
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("first.test")
	addr, stop, out := startRun(t, "-config", cfgPath, "-data", filepath.Join(dir, "data"))
	dnsAddr := strings.TrimSuffix(waitLine(t, out, "dns listening on "), " (udp, tcp)")
	resolve := func(name string) string {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr)
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("resolve %s at %q: %v %v", name, dnsAddr, r, err)
		}
		return r.Answer[0].(*dns.A).A.String()
	}
	if !strings.Contains(out.String(), "created a new CA") {
		t.Errorf("first run should say it created a CA: %q", out.String())
	}
	proxyURL, _ := url.Parse("http://" + addr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), DisableKeepAlives: true}, Timeout: 5 * time.Second}
	get := func(host string) string {
		t.Helper()
		resp, err := c.Get("http://" + host + ":" + port + "/x.gif")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("X-Pixelwall") != "" {
			return "blocked"
		}
		return string(b)
	}
	if got := get("first.test"); got != "blocked" {
		t.Errorf("first.test: %q, want blocked", got)
	}
	if got := get("second.test"); got != "origin:second.test:"+port {
		t.Errorf("second.test: %q, want the origin", got)
	}
	if a := resolve("www.first.test"); a != "0.0.0.0" {
		t.Errorf("DNS www.first.test = %s, want 0.0.0.0", a)
	}
	if a := resolve("second.test"); a != "127.0.0.1" {
		t.Errorf("DNS second.test = %s, want the upstream's 127.0.0.1", a)
	}

	// SIGHUP reloads the deny list without a restart.
	writeCfg("second.test")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for get("second.test") != "blocked" {
		if time.Now().After(deadline) {
			t.Fatal("second.test not blocked after SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := get("first.test"); got == "blocked" {
		t.Error("first.test still blocked after reload")
	}
	if a := resolve("second.test"); a != "0.0.0.0" {
		t.Errorf("after reload DNS second.test = %s, want 0.0.0.0", a)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit code %d after a clean stop", code)
	}
	if !strings.Contains(out.String(), "pixelwall stopped") {
		t.Errorf("stdout %q lacks the stop line", out.String())
	}
}

func TestRunFailsClearlyWhenPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	code, _, errOut := runCmd(t, "", "run", "-data", t.TempDir(), "-no-refresh", "-dns", "off", "-http", l.Addr().String())
	if code != 1 || !strings.Contains(errOut, "http proxy") || !strings.Contains(errOut, "address already in use") {
		t.Errorf("exit %d, stderr %q; want 1 and a message naming the http proxy", code, errOut)
	}
}

func TestCACommands(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := runCmd(t, "", "ca", "-data", data, "path")
	if code != 0 {
		t.Fatalf("ca path: %d %s", code, errOut)
	}
	path := strings.TrimSpace(out)
	if path != filepath.Join(data, "ca", "ca.pem") {
		t.Errorf("ca path = %q", path)
	}
	fi, err := os.Stat(filepath.Join(data, "ca", "ca-key.pem"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	_, pemOut, _ := runCmd(t, "", "ca", "-data", data, "export")
	block, _ := pem.Decode([]byte(pemOut))
	if block == nil {
		t.Fatalf("ca export is not PEM: %q", pemOut)
	}
	first, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !first.IsCA {
		t.Fatalf("exported certificate: %v (CA %v)", err, first.IsCA)
	}
	if code, out, _ := runCmd(t, "", "ca", "-data", data, "regenerate"); code != 0 || !strings.Contains(out, "Install it on every device again") {
		t.Errorf("ca regenerate: %d %q", code, out)
	}
	_, pemOut, _ = runCmd(t, "", "ca", "-data", data, "export")
	block, _ = pem.Decode([]byte(pemOut))
	if second, _ := x509.ParseCertificate(block.Bytes); second == nil || second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("regenerate kept the same CA")
	}
	if code, _, errOut := runCmd(t, "", "ca", "-data", data, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown ca command") {
		t.Errorf("ca frobnicate: %d %q", code, errOut)
	}
}

// TestLimitMemory: after a compile the runtime's soft memory limit is what
// the process holds plus the headroom; GOMEMLIMIT in the environment wins.
func TestLimitMemory(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	// Without a cgroup's cap, whatever the machine running the test has
	// (TestMemoryLimitUnderCgroup covers the cap).
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOMEMLIMIT")
	var g memoryGovernor
	g.aroundCompile(func() {})
	got := debug.SetMemoryLimit(-1)
	if got == math.MaxInt64 || got < memoryHeadroom || got > memoryHeadroom+1<<30 {
		t.Errorf("limit %d after limitMemory, want what the process holds plus %d", got, memoryHeadroom)
	}
	// A live heap grown past the floor raises the limit to 1.5 times it:
	// a fixed limit under it would make the collector run without end.
	grown := make([][]byte, 0, 64)
	for range 64 {
		grown = append(grown, make([]byte, 2<<20))
	}
	runtime.GC()
	g.adjust()
	if raised := debug.SetMemoryLimit(-1); raised < 3*128<<20/2 {
		t.Errorf("limit %d with 128 MiB live, want at least 1.5 times that", raised)
	}
	runtime.KeepAlive(grown)
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	g.aroundCompile(func() {})
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("limit %d with GOMEMLIMIT set, want it left alone", got)
	}
}

// dns.domain_upstreams and dns.local_names reach the resolver: a .lan name
// goes to its own upstream, a single-label name is answered here.
func TestRunDomainUpstreamsAndLocalNames(t *testing.T) {
	dir := t.TempDir()
	cfg := "lists: []\nhttp:\n  listen: 127.0.0.1:0\ndns:\n  listen: 127.0.0.1:0\n  upstreams: [" + dnsStub(t) + "]\n" +
		"  local_names: answer\n  domain_upstreams:\n    lan: [" + dnsStubAnswering(t, net.IPv4(127, 0, 0, 2)) + "]\n"
	cfgPath := writeFile(t, "pixelwall.yaml", cfg)
	_, stop, out := startRun(t, "-config", cfgPath, "-data", filepath.Join(dir, "data"))
	defer stop()
	dnsAddr := strings.TrimSuffix(waitLine(t, out, "dns listening on "), " (udp, tcp)")
	ask := func(name string) (int, string) {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(r.Answer) == 1 {
			return r.Rcode, r.Answer[0].(*dns.A).A.String()
		}
		return r.Rcode, ""
	}
	if rc, a := ask("nas.lan"); rc != dns.RcodeSuccess || a != "127.0.0.2" {
		t.Errorf("nas.lan: %s %s, want the lan upstream's 127.0.0.2", dns.RcodeToString[rc], a)
	}
	if rc, a := ask("www.example.test"); rc != dns.RcodeSuccess || a != "127.0.0.1" {
		t.Errorf("www.example.test: %s %s, want the main upstream's 127.0.0.1", dns.RcodeToString[rc], a)
	}
	if rc, _ := ask("printer"); rc != dns.RcodeNameError {
		t.Errorf("printer: %s, want NXDOMAIN from pixelwall (local_names: answer)", dns.RcodeToString[rc])
	}
}
