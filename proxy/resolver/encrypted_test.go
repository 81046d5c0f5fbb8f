package resolver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/certs"
)

// testTLS returns a server TLS config from a throwaway CA, and a pool that
// trusts it.
func testTLS(t *testing.T, host string) (*tls.Config, *x509.CertPool) {
	t.Helper()
	ca, _, err := certs.LoadOrCreate(certs.Options{Dir: t.TempDir(), Name: "test DNS CA"})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cfg := certs.NewSigner(ca, certs.SignerOptions{}).TLSConfig(host)
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return cfg, pool
}

// dotServer is a DNS-over-TLS server for the name dot.test on loopback,
// answering as the stub does, with a pool that trusts its certificate and
// a count of the connections it accepted.
type dotServer struct {
	*stub
	addr     string
	pool     *x509.CertPool
	accepted atomic.Int32
}

func startDoT(t *testing.T) *dotServer {
	t.Helper()
	d := &dotServer{stub: &stub{queries: make(map[string]int)}}
	cfg, pool := testTLS(t, "dot.test")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr, d.pool = l.Addr().String(), pool
	srv := &dns.Server{Listener: tls.NewListener(&countingListener{Listener: l, accepted: &d.accepted}, cfg),
		Net: "tcp-tls", Handler: d.stub, IdleTimeout: func() time.Duration { return time.Minute }}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return d
}

// upstream is a tls:// upstream for d, trusting pool (nil: the system's).
func (d *dotServer) upstream(t *testing.T, pool *x509.CertPool) Upstream {
	t.Helper()
	u, err := ParseUpstream("tls://"+d.addr+"#dot.test", UpstreamOptions{RootCAs: pool, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDoTUpstream(t *testing.T) {
	d := startDoT(t)
	st := d.stub
	s := newTestServer(t, "", []Upstream{d.upstream(t, d.pool)}, nil)
	r := query(t, s.addr, "udp", "secure.test", dns.TypeA)
	if len(r.Answer) != 1 || st.count("secure.test.", "A", "tcp") != 1 {
		t.Errorf("answer %v, DoT queries %d", r.Answer, st.count("secure.test.", "A", "tcp"))
	}

	// A server whose certificate is not trusted is not used.
	s2 := newTestServer(t, "", []Upstream{d.upstream(t, nil)}, nil)
	if r := query(t, s2.addr, "udp", "secure2.test", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("untrusted DoT server: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

func TestDoHUpstream(t *testing.T) {
	cfg, pool := testTLS(t, "127.0.0.1")
	var posts atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/dns-query", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/dns-message" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		posts.Add(1)
		body, _ := io.ReadAll(r.Body)
		q := new(dns.Msg)
		if err := q.Unpack(body); err != nil || q.Id != 0 {
			http.Error(w, "bad message", http.StatusBadRequest)
			return
		}
		m := new(dns.Msg)
		m.SetReply(q)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 120}, A: net.IPv4(192, 0, 2, 53)}}
		wire, _ := m.Pack()
		w.Header().Set("Content-Type", "application/dns-message")
		w.Write(wire)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: cfg}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })

	u, err := ParseUpstream("https://"+l.Addr().String()+"/dns-query", UpstreamOptions{RootCAs: pool, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, "", []Upstream{u}, nil)
	r := query(t, s.addr, "udp", "doh.example.test", dns.TypeA)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.53" || posts.Load() != 1 {
		t.Errorf("answer %v, DoH posts %d", r.Answer, posts.Load())
	}
}

func TestParseUpstream(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"192.0.2.1", "192.0.2.1:53", ""},
		{"192.0.2.1:5353", "192.0.2.1:5353", ""},
		{"[2001:db8::1]:53", "[2001:db8::1]:53", ""},
		{"udp://192.0.2.1", "192.0.2.1:53", ""},
		{"tcp://192.0.2.1", "192.0.2.1:53", ""},
		{"tls://192.0.2.1", "tls://192.0.2.1:853", ""},
		{"https://dns.example/dns-query", "https://dns.example/dns-query", ""},
		{"quic://192.0.2.1", "", "unknown scheme"},
		{"https://", "", "not a DoH URL"},
	}
	for _, tc := range tests {
		u, err := ParseUpstream(tc.in, UpstreamOptions{})
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseUpstream(%q) error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || u.String() != tc.want):
			t.Errorf("ParseUpstream(%q) = %v, %v; want %s", tc.in, u, err, tc.want)
		}
	}
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// DoT connections are kept for the next queries: five cache misses in a
// row take one TLS connection, not five handshakes.
func TestDoTReusesConnections(t *testing.T) {
	d := startDoT(t)
	s := newTestServer(t, "", []Upstream{d.upstream(t, d.pool)}, nil)
	for i := range 5 {
		name := fmt.Sprintf("reuse-%d.test", i)
		if r := query(t, s.addr, "udp", name, dns.TypeA); len(r.Answer) != 1 {
			t.Fatalf("%s: %v", name, r)
		}
	}
	if n := d.total(); n != 5 {
		t.Errorf("the DoT server answered %d queries, want 5", n)
	}
	if n := d.accepted.Load(); n != 1 {
		t.Errorf("%d TLS connections for 5 queries in a row, want 1", n)
	}
}

// A server that closes a kept connection with a query on it (as servers
// may, when they have served enough) costs a new connection, never a
// failed query: this one answers the first query on each connection, then
// closes when the next one comes.
func TestTCPUpstreamClosedConnectionRetried(t *testing.T) {
	addr, accepted := rawTCPServer(t, func(c *dns.Conn) {
		if q, err := c.ReadMsg(); err == nil {
			c.WriteMsg(answerA(q, 9))
		}
		c.ReadMsg() // and close, unanswered
	})
	u := upstreamAt(t, "tcp://"+addr, time.Second)
	for i := range 3 {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("closed-%d.test.", i), dns.TypeA)
		r, err := u.Exchange(context.Background(), m)
		if err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if len(r.Answer) != 1 {
			t.Fatalf("query %d: %v", i, r)
		}
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("%d connections for 3 queries, want 3: one per query after the first", n)
	}
}
