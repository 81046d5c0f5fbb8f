package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/pixelwall/pixelwall/blocklist"
)

// handshakeTimeout bounds the TLS handshake with an intercepted client.
const handshakeTimeout = 10 * time.Second

// handleConnect is the CONNECT policy: refuse hosts blocked by a hostname
// rule without contacting them, tunnel passthrough and pinned hosts,
// intercept the rest (per Options.Intercept).
func (s *Server) handleConnect(hostport string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	client := clientIP(ctx.Req.RemoteAddr)
	if s.isOwnHost(host) {
		ctx.Resp = textResponse(ctx.Req, http.StatusForbidden, "pixelwall: use http://"+OwnHost+"/\n")
		return goproxy.RejectConnect, hostport
	}
	if d := s.match().MatchHost(host); d.Action == blocklist.Block && !s.allowed(client, host, "") {
		if s.answersBlockedOverTLS(host) {
			return s.blockedConnect(host, hostport, d), hostport
		}
		if s.refusals.first(client, host, s.now()) {
			s.emit(Event{Kind: KindConnectRefused, Client: client.String(), Method: http.MethodConnect, Host: host, Rule: d.Rule, List: d.List})
		}
		ctx.Resp = textResponse(ctx.Req, http.StatusForbidden, "pixelwall: "+host+" is blocked by "+d.Rule+" ("+d.List+")\n")
		return goproxy.RejectConnect, hostport
	}
	if !s.intercepts(host) {
		return goproxy.OkConnect, hostport
	}
	return &goproxy.ConnectAction{
		Action: goproxy.ConnectHijack,
		Hijack: func(req *http.Request, conn net.Conn, ctx *goproxy.ProxyCtx) { s.mitm(req, conn, host, hostport, nil) },
	}, hostport
}

// intercepts decides between interception and a plain tunnel.
func (s *Server) intercepts(host string) bool {
	switch {
	case s.opts.Intercept == InterceptNone || s.opts.Signer == nil:
		return false
	case hostIn(host, s.opts.Passthrough), s.pins.pinned(host, s.now()):
		return false
	case s.opts.Intercept == InterceptListed:
		return hostIn(host, s.opts.InterceptHosts)
	}
	return true
}

// mitm serves an intercepted CONNECT: it completes the TLS handshake with
// our certificate itself (so that a client rejecting it is seen, and the
// host pinned), then serves the decrypted HTTP/1.1 requests through goproxy
// like any proxied request. A CONNECT that carries plain HTTP (ws://, or
// http:// through a tunnel) is served the same way without TLS. With block
// set the host is blocked by name, and requests are answered here
// (serveBlockedHost).
func (s *Server) mitm(req *http.Request, conn net.Conn, host, hostport string, block *blocklist.Decision) {
	defer conn.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	first, err := br.Peek(1)
	if err != nil {
		return
	}
	client := clientIP(req.RemoteAddr)
	var c net.Conn = &bufferedConn{Conn: conn, r: br}
	scheme := "http"
	if first[0] == 0x16 { // TLS handshake record
		scheme = "https"
		cfg := s.opts.Signer.TLSConfig(host)
		var sentCert bool
		getCert := cfg.GetCertificate
		cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			sentCert = true
			return getCert(hello)
		}
		tc := tls.Server(c, cfg)
		hctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			var op *net.OpError
			if sentCert && errors.As(err, &op) && op.Op == "remote error" {
				if s.pins.rejected(host, client, s.now()) {
					s.emit(Event{Kind: KindPinned, Client: client.String(), Method: http.MethodConnect, Host: host,
						Detail: "client rejected our certificate: tunnelling this host from now on (" + op.Err.Error() + ")"})
					s.log.Info("host pinned: tunnelling it from now on", "host", host, "client", client, "err", op.Err)
				}
			}
			return
		}
		s.pins.accepted(client, s.now())
		c = tc
	}
	_ = conn.SetReadDeadline(time.Time{})

	srv := &http.Server{
		Handler:           s.innerHandler(scheme, hostport, block),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          ErrorLog(s.log),
	}
	l := newOneConnListener(c)
	_ = srv.Serve(l)
	<-l.closed
}

// innerHandler turns requests read from an intercepted connection into
// absolute-URL proxy requests for goproxy, or answers them itself for a
// blocked host.
func (s *Server) innerHandler(scheme, hostport string, block *blocklist.Decision) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Scheme = scheme
		if r.Host == "" {
			r.Host = hostport
		}
		r.URL.Host = r.Host
		// Default ports are left out so URLs read as browsers write them.
		if h, p, err := net.SplitHostPort(r.URL.Host); err == nil &&
			(scheme == "https" && p == "443" || scheme == "http" && p == "80") {
			r.URL.Host = h
		}
		r.RequestURI = ""
		if s.isOwnHost(r.URL.Hostname()) {
			s.servePages(w, r)
			return
		}
		if block != nil && s.serveBlockedHost(w, r, *block) {
			return
		}
		s.gp.ServeHTTP(w, r)
	})
}

// bufferedConn is a net.Conn whose first bytes were peeked into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// oneConnListener hands one connection to http.Server.Serve and then
// blocks until that connection is closed.
type oneConnListener struct {
	conn   net.Conn
	once   sync.Once
	closed chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{closed: make(chan struct{})}
	l.conn = &notifyCloseConn{Conn: c, onClose: func() { l.once.Do(func() { close(l.closed) }) }}
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if c := l.conn; c != nil {
		l.conn = nil
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return dummyAddr{} }

type notifyCloseConn struct {
	net.Conn
	onClose func()
}

func (c *notifyCloseConn) Close() error {
	err := c.Conn.Close()
	c.onClose()
	return err
}

type dummyAddr struct{}

func (dummyAddr) Network() string { return "tcp" }
func (dummyAddr) String() string  { return "intercepted" }

// pinTracker decides when a host's certificate rejections mean pinning
// rather than a client that has not installed our CA yet: only rejections
// from clients that accepted our certificate for some other host recently
// count, and it takes two.
type pinTracker struct {
	mu      sync.Mutex
	trusted map[netip.Addr]time.Time // clients that completed an intercepted handshake
	strikes map[string]int
	pins    map[string]time.Time
}

const (
	pinStrikes   = 2
	pinFor       = 7 * 24 * time.Hour
	trustedFor   = time.Hour
	maxPinMemory = 4096
)

func (p *pinTracker) init() {
	p.trusted = make(map[netip.Addr]time.Time)
	p.strikes = make(map[string]int)
	p.pins = make(map[string]time.Time)
}

func (p *pinTracker) accepted(client netip.Addr, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.trusted) >= maxPinMemory {
		clear(p.trusted)
	}
	p.trusted[client] = now
}

// rejected records a rejection and reports whether the host is now pinned.
func (p *pinTracker) rejected(host string, client netip.Addr, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.trusted[client]; !ok || now.Sub(t) > trustedFor {
		return false
	}
	if len(p.strikes) >= maxPinMemory {
		clear(p.strikes)
	}
	p.strikes[host]++
	if p.strikes[host] < pinStrikes {
		return false
	}
	delete(p.strikes, host)
	if len(p.pins) >= maxPinMemory {
		clear(p.pins)
	}
	p.pins[host] = now.Add(pinFor)
	return true
}

func (p *pinTracker) pinned(host string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.pins[host]
	if ok && now.After(until) {
		delete(p.pins, host)
		return false
	}
	return ok
}

func textResponse(r *http.Request, code int, body string) *http.Response {
	return goproxy.NewResponse(r, "text/plain; charset=utf-8", code, body)
}
