package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/certs"
)

// With only a DNS-over-TLS upstream, no lookup leaves in plaintext: a plain
// DNS stub at the system resolver's address (127.0.0.1:53 in a network
// namespace whose resolv.conf names it) counts zero queries while the proxy
// browses and a list downloads.
//
// The test runs itself again inside a network namespace it makes, where it
// can own port 53 and `ip netns exec` gives it that resolv.conf.
func TestNoPlaintextLookupsWithEncryptedUpstreams(t *testing.T) {
	if os.Getenv("PIXELWALL_NETNS_CHILD") == "" {
		runInNetns(t, "TestNoPlaintextLookupsWithEncryptedUpstreams")
		return
	}
	if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
		t.Fatalf("ip link set lo up: %v", err)
	}
	var plain, encrypted atomic.Int64
	answer := func(count *atomic.Int64) dns.HandlerFunc {
		return func(w dns.ResponseWriter, q *dns.Msg) {
			count.Add(1)
			m := new(dns.Msg)
			m.SetReply(q)
			if q.Question[0].Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
			w.WriteMsg(m)
		}
	}
	for _, network := range []string{"udp", "tcp"} {
		srv := &dns.Server{Addr: "127.0.0.1:53", Net: network, Handler: answer(&plain)}
		go srv.ListenAndServe()
		defer srv.Shutdown()
	}
	ca, _, err := certs.LoadOrCreate(certs.Options{Dir: os.Getenv("PIXELWALL_DOT_CA_DIR"), Name: "test DoT CA"})
	if err != nil {
		t.Fatal(err)
	}
	dl, err := tls.Listen("tcp", "127.0.0.1:0", certs.NewSigner(ca, certs.SignerOptions{}).TLSConfig("dot.test"))
	if err != nil {
		t.Fatal(err)
	}
	dot := &dns.Server{Listener: dl, Net: "tcp-tls", Handler: answer(&encrypted)}
	go dot.ActivateAndServe()
	defer dot.Shutdown()

	ol, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/list.txt" {
			io.WriteString(w, "||tracker.test^\n||ads.test^\n")
			return
		}
		io.WriteString(w, "hello")
	})}
	go origin.Serve(ol)
	defer origin.Close()
	_, port, _ := net.SplitHostPort(ol.Addr().String())

	data := t.TempDir()
	cfgPath := writeFile(t, "config.yaml", fmt.Sprintf(`
http: {listen: "127.0.0.1:0"}
dns: {listen: "127.0.0.1:0", upstreams: ["tls://%s#dot.test"]}
dashboard: {listen: "off"}
lists: [{name: remote, url: "http://lists.test:%s/list.txt"}]
`, dl.Addr(), port))
	addr, stop, _ := startRun(t, "-config", cfgPath, "-data", data)
	defer stop()
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: addr})}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://shop.test:" + port + "/page")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Errorf("browsing through the proxy: %q", body)
	}
	listFile := filepath.Join(data, "lists", "remote.txt")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(listFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the list was not downloaded")
		}
	}
	if n := plain.Load(); n != 0 {
		t.Errorf("%d lookups went to the system resolver in plaintext", n)
	}
	if encrypted.Load() == 0 {
		t.Error("no lookup went to the DoT upstream")
	}
}

// runInNetns runs the named test again in a new network namespace whose
// resolv.conf names 127.0.0.1, with a fresh CA trusted for DoT; it skips
// when namespaces cannot be made (not root, no iproute2).
func runInNetns(t *testing.T, name string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip to make a network namespace")
	}
	ns := "pixelwall-test-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	etc := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	caDir := t.TempDir()
	ca, _, err := certs.LoadOrCreate(certs.Options{Dir: caDir, Name: "test DoT CA"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "PIXELWALL_NETNS_CHILD=1", "PIXELWALL_DOT_CA_DIR="+caDir, "SSL_CERT_FILE="+ca.CertPath())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in the namespace: %v\n%s", err, out)
	}
	t.Logf("in the namespace:\n%s", out)
}
