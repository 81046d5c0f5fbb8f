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
	"strconv"
	"strings"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/pixelwall/pixelwall/blocklist"
)

// handshakeTimeout bounds the TLS handshake with an intercepted client.
const handshakeTimeout = 10 * time.Second

// protocolPeek bounds the wait for a CONNECT client's first bytes before
// the connection is taken for one whose server speaks first (SMTP, IMAP,
// POP3 banners) and tunnelled; a TLS client sends its ClientHello within
// a round trip of the 200.
const protocolPeek = time.Second

// serveConnect is the CONNECT policy: refuse destinations the client may
// not reach and hosts blocked by a hostname rule, without contacting them;
// tunnel passthrough and pinned hosts; intercept the rest (per
// Options.Intercept) when the client speaks TLS or HTTP, and tunnel
// anything else untouched.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	hostport := r.Host
	host, port, ok := connectTarget(hostport)
	if !ok {
		w.Header().Set("Connection", "close")
		http.Error(w, "pixelwall: CONNECT wants host:port\n", http.StatusBadRequest)
		return
	}
	client := info.client
	if s.isOwnHost(host) {
		w.Header().Set("Connection", "close")
		http.Error(w, "pixelwall: use http://"+OwnHost+"/\n", http.StatusForbidden)
		return
	}
	if !s.connectPortAllowed(info.class, port) {
		s.refuseDestination(w, r, client, host, &DestinationError{Dest: hostport, Reason: reasonPort})
		return
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if de := s.checkDestination(info.class, netip.AddrPortFrom(ip, port)); de != nil {
			s.refuseDestination(w, r, client, host, de)
			return
		}
	}
	pol := s.opts.Policy()
	d := pol.DecideHost(host, client)
	if d.Paused {
		s.emitPaused(Event{Client: client.String(), Method: http.MethodConnect, Host: host}, d)
	}
	cloakedBy := ""
	if d.Action != blocklist.Block && d.Action != blocklist.Allow {
		cloakedBy, d = s.uncloakHost(r.Context(), pol, client, host)
	}
	// A host blocked by name whose scripts the lists answer with stand-ins
	// is intercepted, when it may be, so that pages get their stand-ins.
	mode := s.settingsFor(pol, client).intercept
	if d.Action == blocklist.Block && !(d.StandIn && s.intercepts(host, mode)) {
		s.blockConnect(w, r, info, d, cloakedBy, host, hostport, mode)
		return
	}
	r = s.withReqInfo(r, info)
	if !s.intercepts(host, mode) {
		s.serveTunnel(w, r, info, host, hostport)
		return
	}
	conn, br, ok := hijack(w)
	if !ok {
		return
	}
	s.mitm(r, conn, br, host, hostport, info)
}

// connectTarget splits a CONNECT's host:port, the host lower-cased and
// without a trailing dot; ok is false when either part is missing or bad.
func connectTarget(hostport string) (host string, port uint16, ok bool) {
	host, portStr, err := net.SplitHostPort(hostport)
	p, perr := strconv.ParseUint(portStr, 10, 16)
	if err != nil || perr != nil || host == "" {
		return "", 0, false
	}
	return strings.TrimSuffix(strings.ToLower(host), "."), uint16(p), true
}

// blockConnect answers a CONNECT to a host blocked by name without
// contacting it: with our block page over TLS when the host is answered
// that way, else with a 403 (its event emitted once per retry window).
func (s *Server) blockConnect(w http.ResponseWriter, r *http.Request, info *reqInfo, d blocklist.Decision, cloakedBy, host, hostport string, mode Intercept) {
	client := info.client
	if s.answersBlockedOverTLS(host, mode) {
		conn, br, ok := hijack(w)
		if !ok {
			return
		}
		info.block = &blockedHost{d: d, cloakedBy: cloakedBy}
		s.mitm(s.withReqInfo(r, info), conn, br, host, hostport, info)
		return
	}
	if s.retries.first(client, host, s.now()) {
		s.emit(Event{Kind: KindConnectRefused, Client: client.String(), Method: http.MethodConnect, Host: host, Rule: d.Rule, List: d.List, CloakedBy: cloakedBy})
	}
	w.Header().Set("Connection", "close")
	http.Error(w, "pixelwall: "+host+" is blocked by "+d.Rule+" ("+d.List+")\n", http.StatusForbidden)
}

// serveTunnel tunnels a CONNECT that is not intercepted. The upstream is
// dialled before the client is told yes, so that a refusal or failure is
// an HTTP answer.
func (s *Server) serveTunnel(w http.ResponseWriter, r *http.Request, info *reqInfo, host, hostport string) {
	up, err := s.dialTunnel(r, hostport, info)
	if err != nil {
		var de *DestinationError
		if errors.As(err, &de) {
			s.refuseDestination(w, r, info.client, host, de)
			return
		}
		cause := classify(err)
		s.failures.add(cause)
		w.Header().Set("Connection", "close")
		w.Header().Set("X-Pixelwall", string(cause))
		http.Error(w, "pixelwall: cannot reach "+hostport+": "+err.Error()+"\n", cause.Status())
		return
	}
	conn, br, ok := hijack(w)
	if !ok {
		up.Close()
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		up.Close()
		return
	}
	tunnel(conn, br, up)
}

// intercepts decides between interception and a plain tunnel, in the
// client's intercept mode.
func (s *Server) intercepts(host string, mode Intercept) bool {
	switch {
	case mode == InterceptNone || s.signer() == nil:
		return false
	case hostIn(host, s.opts.Passthrough), s.pins.pinned(host, s.now()):
		return false
	case mode == InterceptListed:
		return hostIn(host, s.opts.InterceptHosts)
	}
	return true
}

// hijack takes the client's connection over from net/http, with the
// reader holding whatever the client sent after its CONNECT.
func hijack(w http.ResponseWriter) (net.Conn, *bufio.Reader, bool) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, false
	}
	return conn, brw.Reader, true
}

// dialTunnel opens a tunnel's upstream connection with the client's
// transport, whose dialer checks the destination. The CONNECT's context
// ends when its connection is hijacked; the dialer's timeout bounds the
// dial instead.
func (s *Server) dialTunnel(r *http.Request, hostport string, info *reqInfo) (net.Conn, error) {
	return s.tr[info.class].DialContext(context.WithoutCancel(r.Context()), "tcp", hostport)
}

// tunnel copies bytes both ways, starting with those buffered in br. When
// the client finishes sending, the upstream is half-closed and its answer
// still flows; when the upstream finishes, the tunnel ends.
func tunnel(client net.Conn, br *bufio.Reader, up net.Conn) {
	defer client.Close()
	defer up.Close()
	go func() {
		if _, err := io.Copy(up, br); err == nil {
			closeWrite(up)
		} else {
			up.Close()
		}
	}()
	io.Copy(client, up)
	closeWrite(client)
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// mitm serves an intercepted CONNECT. It tells the client yes, then looks
// at what the client sends first: a TLS handshake it completes itself with
// our certificate (so that a client rejecting it is seen, and the host
// pinned) and serves the decrypted HTTP/1.1 requests through goproxy like
// any proxied request; plain HTTP (ws://, or http:// through a tunnel) is
// served the same way without TLS; anything else, or nothing within
// peekTimeout (a protocol whose server speaks first), is tunnelled
// untouched, the bytes already read included. A CONNECT to an address
// whose ClientHello names a passthrough or pinned host is tunnelled too.
func (s *Server) mitm(req *http.Request, conn net.Conn, br *bufio.Reader, host, hostport string, info *reqInfo) {
	defer conn.Close()
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	client := info.client
	isTLS, isHTTP, ok := s.peekProtocol(conn, br, host, s.settingsFor(s.opts.Policy(), client).intercept)
	if !ok {
		return // the client went away
	}
	if !isTLS && !isHTTP {
		if info.block != nil {
			return // a blocked host is never dialled
		}
		up, err := s.dialTunnel(req, hostport, info)
		if err != nil {
			var de *DestinationError
			if errors.As(err, &de) {
				s.emitRefusal(client, Event{Kind: KindDestinationRefused, Client: client.String(), Method: http.MethodConnect,
					Host: host, URL: hostport, Detail: de.Error()})
			}
			return
		}
		tunnel(conn, br, up)
		return
	}
	var c net.Conn = &bufferedConn{Conn: conn, r: br}
	scheme := "http"
	if isTLS {
		scheme = "https"
		if c, ok = s.handshake(conn, c, host, client); !ok {
			return
		}
	}

	srv := &http.Server{
		Handler:           s.innerHandler(scheme, hostport, info.client, info.class, info.block),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          ErrorLog(s.log),
	}
	if !s.inner.add(srv) {
		return // shutting down
	}
	defer s.inner.remove(srv)
	l := newOneConnListener(c)
	_ = srv.Serve(l)
	<-l.closed
}

// peekProtocol waits up to peekTimeout for the client's first bytes on
// conn (read through br, not consumed) and reports whether they start a
// TLS handshake to intercept or an HTTP request; ok is false when the
// client went away.
func (s *Server) peekProtocol(conn net.Conn, br *bufio.Reader, host string, mode Intercept) (isTLS, isHTTP, ok bool) {
	_ = conn.SetReadDeadline(time.Now().Add(s.peekTimeout))
	first, err := br.Peek(1)
	isTLS = err == nil && first[0] == 0x16 // a TLS handshake record
	isHTTP = err == nil && !isTLS && looksLikeHTTP(br)
	if isTLS && isIPLiteral(host) {
		// The CONNECT named no host: the ClientHello's may be one that is
		// tunnelled (an app that connects by address).
		if sni := serverName(br); sni != "" && !s.intercepts(strings.ToLower(sni), mode) {
			isTLS = false
		}
	}
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return false, false, false
	}
	_ = conn.SetReadDeadline(time.Time{})
	return isTLS, isHTTP, true
}

// handshake completes the TLS handshake on c (conn, buffered) with our
// certificate for host and returns the decrypted connection. A client that
// rejects the certificate counts towards pinning host; ok is false when
// the handshake failed.
func (s *Server) handshake(conn, c net.Conn, host string, client netip.Addr) (_ net.Conn, ok bool) {
	_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	cfg := s.signer().TLSConfig(host)
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
		return nil, false
	}
	s.pins.accepted(client, s.now())
	_ = conn.SetReadDeadline(time.Time{})
	return tc, true
}

// innerHandler turns requests read from an intercepted connection into
// absolute-URL proxy requests for goproxy.
func (s *Server) innerHandler(scheme, hostport string, client netip.Addr, class clientClass, block *blockedHost) http.Handler {
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
		if block != nil && s.serveBlockedHost(w, r, client, block) {
			return
		}
		s.proxyRequest(w, r, &reqInfo{client: client, class: class})
	})
}

func textResponse(r *http.Request, code int, body string) *http.Response {
	return goproxy.NewResponse(r, "text/plain; charset=utf-8", code, body)
}
