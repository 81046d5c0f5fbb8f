package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/certs"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// world is a little internet on loopback: a DNS stub that answers every
// name with 127.0.0.1, an origin serving any name over HTTP and HTTPS (with
// certificates from its own CA), and pixelwall in front of it.
type world struct {
	t        testing.TB
	dnsAddr  string
	origin   *origin
	httpPort string       // the origin's plain HTTP port
	tlsPort  string       // the origin's HTTPS port
	tlsConns atomic.Int64 // connections the origin's HTTPS port accepted
	originCA *certs.CA

	ca       *certs.CA // pixelwall's
	lists    *blocklist.Service
	resolver *resolver.Server // pixelwall's resolver core, asking the stub
	proxy    *Server
	proxyURL *url.URL

	mu     sync.Mutex
	events []Event
}

type worldOptions struct {
	rules string
	// lists, when set, is the lists service's whole config instead of
	// rules (the embedded lists, EasyPrivacy, …).
	lists *blocklist.Config
	// handler, when set, is the origin instead of the default one.
	handler http.Handler
	// defaultPorts sends the proxy's upstream connections for port 443 to
	// the origin's HTTPS port and for 80 to its HTTP port, so that URLs
	// carry no port, as on the internet.
	defaultPorts bool
	// cnames the DNS stub answers: name → target (without final dots).
	cnames map[string]string
	tweak  func(*Options)
}

func newWorld(t testing.TB, wo worldOptions) *world {
	t.Helper()
	w := &world{t: t}
	w.dnsAddr = startDNSStub(t, wo.cnames)

	// The origin.
	var err error
	w.originCA, _, err = certs.LoadOrCreate(certs.Options{Dir: t.TempDir(), Name: "test origin CA"})
	if err != nil {
		t.Fatal(err)
	}
	w.origin = newOrigin()
	var handler http.Handler = w.origin
	if wo.handler != nil {
		handler = wo.handler
	}
	hl := listen(t)
	w.httpPort = port(hl)
	serveForTest(t, handler, hl)
	tl := &countingListener{Listener: listen(t), n: &w.tlsConns}
	w.tlsPort = port(tl)
	originSigner := certs.NewSigner(w.originCA, certs.SignerOptions{})
	serveForTest(t, handler, tls.NewListener(tl, originSigner.TLSConfig("origin.test")))

	// pixelwall.
	w.ca, _, err = certs.LoadOrCreate(certs.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	originPool := x509.NewCertPool()
	originPool.AddCert(w.originCA.Cert)
	cfg := blocklist.Config{NoDefaults: true,
		Sources: []blocklist.Source{{Name: "test", Format: blocklist.FormatAdblock, Text: wo.rules}}}
	if wo.lists != nil {
		cfg = *wo.lists
	}
	w.lists, err = blocklist.NewService(cfg, blocklist.ServiceOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if wo.lists == nil {
		if st := w.lists.Policy().Matcher().Lists()[0]; st.BadCount > 0 {
			t.Fatalf("test rules: %v", st.Bad)
		}
	}
	up, err := resolver.ParseUpstream(w.dnsAddr, resolver.UpstreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.resolver, err = resolver.New(resolver.Options{Policy: w.lists.Policy, Upstreams: []resolver.Upstream{up},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTransport(TransportOptions{Resolver: w.resolver, RootCAs: originPool})
	if wo.defaultPorts {
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, p, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			switch p {
			case "443":
				p = w.tlsPort
			case "80":
				p = w.httpPort
			}
			return dial(ctx, network, net.JoinHostPort(host, p))
		}
	}
	opts := Options{
		Policy:    w.lists.Policy,
		Allow:     w.lists.Allow,
		Resolver:  w.resolver,
		Signer:    certs.NewSigner(w.ca, certs.SignerOptions{}),
		CA:        w.ca,
		Transport: tr,
		Event: func(e Event) {
			w.mu.Lock()
			w.events = append(w.events, e)
			w.mu.Unlock()
		},
		Passthrough: []string{"bank.test"},
		Logger:      panicWatch(t),
	}
	if wo.tweak != nil {
		wo.tweak(&opts)
	}
	w.proxy, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	pl := listen(t)
	srv := &http.Server{Handler: w.proxy, ErrorLog: ErrorLog(opts.Logger)}
	go srv.Serve(pl)
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(w.proxy.CloseIdleConnections) // no upstream connection outlives the test
	w.proxyURL = &url.URL{Scheme: "http", Host: pl.Addr().String()}
	return w
}

// discardLog silences the test origins' servers.
var discardLog = log.New(io.Discard, "", 0)

// panicWatch is a logger that fails the test on every error it is given:
// the proxy logs a panic in a handler (outer or intercepted) as one.
func panicWatch(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(failWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type failWriter struct{ t testing.TB }

func (w failWriter) Write(p []byte) (int, error) {
	w.t.Errorf("proxy logged an error: %s", p)
	return len(p), nil
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func port(l net.Listener) string { return strconv.Itoa(l.Addr().(*net.TCPAddr).Port) }

// startDNSStub answers every A query with 127.0.0.1 (and AAAA with nothing),
// over UDP and TCP, following cnames first, except for names under nx.test
// (NXDOMAIN) and servfail.test (SERVFAIL).
func startDNSStub(t testing.TB, cnames map[string]string) string {
	t.Helper()
	handler := dns.HandlerFunc(func(rw dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 {
			switch name := q.Question[0].Name; {
			case dns.IsSubDomain("nx.test.", name):
				m.Rcode = dns.RcodeNameError
			case dns.IsSubDomain("servfail.test.", name):
				m.Rcode = dns.RcodeServerFailure
			}
		}
		for _, qq := range q.Question {
			if m.Rcode != dns.RcodeSuccess {
				break
			}
			name := qq.Name
			if target, ok := cnames[strings.TrimSuffix(strings.ToLower(name), ".")]; ok {
				m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: target + "."})
				name = target + "."
			}
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		rw.WriteMsg(m)
	})
	// A UDP port whose TCP twin is free too: retry, as TIME_WAIT sockets
	// from other tests can hold the TCP side.
	var pc net.PacketConn
	var tl net.Listener
	var err error
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if tl, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	us := &dns.Server{PacketConn: pc, Handler: handler}
	ts := &dns.Server{Listener: tl, Handler: handler}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() })
	return addr
}

// origin serves any host. It counts hits by host+path and answers:
// /pixel.gif a 1×1 GIF, /big.png a 64×64 PNG, /echo what it received,
// /ws an echoing upgrade, anything else a small HTML page.
type origin struct {
	mu   sync.Mutex
	hits map[string]int
}

func newOrigin() *origin { return &origin{hits: make(map[string]int)} }

func (o *origin) count(hostPath string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[hostPath]
}

// originGIF is a 1×1 GIF that differs from ours, to tell them apart.
var originGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// originPNG is a 64×64 PNG header followed by filler: only its header is ever read.
var originPNG = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x40\x00\x00\x00\x40\x08\x06\x00\x00\x00"), make([]byte, 2000)...)

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	o.mu.Lock()
	o.hits[host+r.URL.Path]++
	o.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, ".gif"):
		w.Header().Set("Content-Type", "image/gif")
		w.Write(originGIF)
	case strings.HasSuffix(r.URL.Path, ".png"):
		w.Header().Set("Content-Type", "image/png")
		w.Write(originPNG)
	case r.URL.Path == "/echo":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"url": r.URL.String(), "query": r.URL.RawQuery, "referer": r.Header.Get("Referer"),
			"gpc": r.Header.Get("Sec-GPC"), "dnt": r.Header.Get("DNT"), "host": r.Host,
		})
	case r.URL.Path == "/ws":
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 64)
		for {
			n, err := brw.Read(buf)
			if err != nil {
				return
			}
			conn.Write(buf[:n])
		}
	default:
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>hello from "+host+"</body></html>")
	}
}

// client returns an HTTP client that goes through the proxy and trusts
// roots (pixelwall's CA when nil). It does not follow redirects.
func (w *world) client(roots *x509.CertPool) *http.Client {
	if roots == nil {
		roots = x509.NewCertPool()
		roots.AddCert(w.ca.Cert)
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             http.ProxyURL(w.proxyURL),
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// get makes a request through the proxy with the given headers.
func (w *world) get(c *http.Client, rawURL string, headers ...string) (*http.Response, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		w.t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatalf("GET %s: read body: %v", rawURL, err)
	}
	return resp, body
}

func (w *world) httpURL(host, pathQuery string) string {
	return "http://" + host + ":" + w.httpPort + pathQuery
}

func (w *world) httpsURL(host, pathQuery string) string {
	return "https://" + host + ":" + w.tlsPort + pathQuery
}

// eventsOf returns the events of a kind recorded so far.
func (w *world) eventsOf(k Kind) []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Event
	for _, e := range w.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}
