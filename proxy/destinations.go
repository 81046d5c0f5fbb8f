package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The destinations policy, as Squid's to_localhost: a client on another
// machine must not use the proxy to reach this host's own services (the
// dashboard, databases bound to loopback, the proxy itself), whatever name
// it asks for. The policy is checked early where the destination is an IP
// literal, and always on the address actually dialled (dialControl), so a
// name that resolves, or is rebound, to 127.0.0.1 is refused too.

// DefaultConnectPorts are the ports a client on another machine may CONNECT
// to, as Squid's SSL_ports: HTTPS, its alternative port, and the mail ports
// with TLS (465 SMTPS, 587 submission, 993 IMAPS, 995 POP3S).
var DefaultConnectPorts = []uint16{443, 8443, 465, 587, 993, 995}

// clientClass is where a client is, which decides what it may reach.
type clientClass uint8

const (
	// classRemote is another machine: no loopback, unspecified or own
	// addresses, CONNECT only to the connect ports.
	classRemote clientClass = iota
	// classLocal is this host through one of its other addresses: every
	// destination but the admin listener.
	classLocal
	// classLoopback is a loopback client: every destination (it could
	// connect there itself), deny_destinations aside.
	classLoopback
	numClasses
)

// classify says where a client is.
func (s *Server) classify(client netip.Addr) clientClass {
	switch {
	case client.IsLoopback():
		return classLoopback
	case s.own.contains(client):
		return classLocal
	}
	return classRemote
}

// DestinationError is a request or CONNECT refused by the destinations
// policy. Reason names the rule, for the client and the log.
type DestinationError struct {
	Dest   string // host:port as asked, or the address dialled
	Reason string
}

func (e *DestinationError) Error() string {
	return "destination " + e.Dest + " refused: " + e.Reason
}

// Reasons for DestinationError.
const (
	reasonLoopback    = "a loopback address, refused to clients on other machines"
	reasonUnspecified = "an unspecified address (this host), refused to clients on other machines"
	reasonOwn         = "an address of this host, refused to clients on other machines"
	reasonAdmin       = "the admin listener, served to loopback clients only"
	reasonDenied      = "in http.deny_destinations"
	reasonPort        = "port not in http.connect_ports, for clients on other machines"
)

// checkDestination applies the policy to an address about to be reached by
// a client of class c; nil means allowed.
func (s *Server) checkDestination(c clientClass, ap netip.AddrPort) *DestinationError {
	ip := ap.Addr().Unmap().WithZone("")
	refuse := func(reason string) *DestinationError {
		return &DestinationError{Dest: ap.String(), Reason: reason}
	}
	for _, p := range s.opts.DenyDestinations {
		if p.Contains(ip) {
			return refuse(reasonDenied)
		}
	}
	if c == classLoopback {
		return nil
	}
	if s.isAdmin(ip, ap.Port()) {
		return refuse(reasonAdmin)
	}
	if c == classLocal {
		return nil
	}
	switch {
	case ip.IsLoopback():
		return refuse(reasonLoopback)
	case ip.IsUnspecified(), ip.Is4() && ip.As4()[0] == 0: // 0.0.0.0/8 reaches this host on Linux
		return refuse(reasonUnspecified)
	case s.own.contains(ip):
		return refuse(reasonOwn)
	}
	return nil
}

// connectPortAllowed says whether a client of class c may CONNECT to port.
func (s *Server) connectPortAllowed(c clientClass, port uint16) bool {
	return c != classRemote || slices.Contains(s.opts.ConnectPorts, port)
}

// SetAdminAddrs replaces the admin listener's addresses (see
// Options.AdminAddrs), for a listener bound after the proxy was made. Safe
// for concurrent use.
func (s *Server) SetAdminAddrs(addrs []netip.AddrPort) {
	clean := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		clean = append(clean, netip.AddrPortFrom(a.Addr().Unmap().WithZone(""), a.Port()))
	}
	s.admin.Store(&clean)
}

// isAdmin reports whether ip:port is the admin listener; one bound to an
// unspecified address is reached at every address of this host.
func (s *Server) isAdmin(ip netip.Addr, port uint16) bool {
	addrs := s.admin.Load()
	if addrs == nil {
		return false
	}
	for _, a := range *addrs {
		if a.Port() != port {
			continue
		}
		if a.Addr() == ip || a.Addr().IsUnspecified() && (ip.IsLoopback() || ip.IsUnspecified() || s.own.contains(ip)) {
			return true
		}
	}
	return false
}

// ownAddrs are this host's interface addresses, listed again when older
// than ownAddrsFor: interfaces come and go (DHCP, VPNs), and listing them
// costs system calls that a request from the LAN should not pay each time.
type ownAddrs struct {
	mu    sync.Mutex
	at    time.Time
	addrs []netip.Addr
	list  func() ([]net.Addr, error) // net.InterfaceAddrs
}

const ownAddrsFor = time.Second

func (o *ownAddrs) contains(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	o.mu.Lock()
	defer o.mu.Unlock()
	if now := time.Now(); now.Sub(o.at) > ownAddrsFor {
		// On failure the previous list stays: loopback and unspecified
		// addresses are refused without it.
		if as, err := o.list(); err == nil {
			o.addrs = o.addrs[:0]
			for _, a := range as {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						o.addrs = append(o.addrs, ip.Unmap())
					}
				}
			}
			o.at = now
		}
	}
	return slices.Contains(o.addrs, ip)
}

// dialControl is the upstream dialer's ControlContext: it checks the
// address about to be connected, after resolution, against the policy of
// the client in the context. A dial without one (not made for a client) is
// not checked.
func dialControl(ctx context.Context, network, address string, _ syscall.RawConn) error {
	p, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	if p == nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &DestinationError{Dest: address, Reason: "not an address"}
	}
	if de := p.s.checkDestination(p.class, ap); de != nil {
		return de
	}
	return nil
}

// classTransports makes one transport per client class from base. Each
// has its own connection pool, so a connection opened for a loopback
// client is never reused for a client on another machine; each dial is
// checked by dialControl (NewTransport's dialer calls it) and, for
// transports whose dialer does not, on the connected address before any
// byte is sent.
func (s *Server) classTransports(base *http.Transport) {
	for c := range numClasses {
		t := base.Clone()
		dial := t.DialContext
		if dial == nil {
			dial = (&net.Dialer{ControlContext: dialControl}).DialContext
		}
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if p, _ := ctx.Value(reqInfoKey{}).(*reqInfo); p == nil || p.class != c || p.s != s {
				// This transport's class decides, whatever the context says.
				ctx = context.WithValue(ctx, reqInfoKey{}, &reqInfo{s: s, class: c})
			}
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if ra, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
				if de := s.checkDestination(c, ra.AddrPort()); de != nil {
					conn.Close()
					return nil, de
				}
			}
			return conn, nil
		}
		s.tr[c] = t
	}
}

// CloseIdleConnections closes the upstream connections kept for reuse.
func (s *Server) CloseIdleConnections() {
	for _, t := range s.tr {
		t.CloseIdleConnections()
	}
}

// refuseDestination answers a request refused by the destinations policy
// with 403 and logs it (within the refusal budget).
func (s *Server) refuseDestination(w http.ResponseWriter, r *http.Request, client netip.Addr, host string, de *DestinationError) {
	s.emitRefusal(client, Event{Kind: KindDestinationRefused, Client: client.String(), Method: r.Method, Host: host,
		URL: requestURL(r), Detail: de.Error()})
	w.Header().Set("Connection", "close")
	http.Error(w, "pixelwall: "+de.Error()+"\n", http.StatusForbidden)
}

// destinationResponse is the 403 for a request whose dial was refused, and
// logs it; nil when err is no refusal.
func (s *Server) destinationResponse(r *http.Request, err error) *http.Response {
	var de *DestinationError
	if !errors.As(err, &de) {
		return nil
	}
	client := clientIP(r.RemoteAddr)
	s.emitRefusal(client, Event{Kind: KindDestinationRefused, Client: client.String(), Method: r.Method,
		Host: r.URL.Hostname(), URL: requestURL(r), Detail: de.Error()})
	return textResponse(r, http.StatusForbidden, "pixelwall: "+de.Error()+"\n")
}

func requestURL(r *http.Request) string {
	if r.Method == http.MethodConnect {
		return r.Host
	}
	return r.URL.String()
}

// literalDest is the destination of a request whose host is an IP literal.
func literalDest(host, port, scheme string) (netip.AddrPort, bool) {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, false
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, uint16(p)), true
}

// checkLiteral refuses, before anything is dialled, a request to an IP
// literal the client may not reach. It reports whether it answered.
func (s *Server) checkLiteral(w http.ResponseWriter, r *http.Request, info *reqInfo) bool {
	ap, ok := literalDest(r.URL.Hostname(), r.URL.Port(), r.URL.Scheme)
	if !ok {
		return false
	}
	de := s.checkDestination(info.class, ap)
	if de == nil {
		return false
	}
	s.refuseDestination(w, r, info.client, r.URL.Hostname(), de)
	return true
}

// reqInfo travels in a proxied request's context, and in the context of
// dials made for it: who asked, and the writer that streams its response.
type reqInfo struct {
	s      *Server
	client netip.Addr
	class  clientClass
	sw     streamWriter
	// block is set for a CONNECT to a host blocked by name, answered
	// with our certificate (serveBlockedHost).
	block *blockedHost
}

type reqInfoKey struct{}

// withReqInfo returns r carrying info, for onRequest, onResponse and the
// upstream dialer.
func (s *Server) withReqInfo(r *http.Request, info *reqInfo) *http.Request {
	info.s = s
	return r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
}

// requestInfo is r's reqInfo; a request without one is treated as from
// another machine.
func (s *Server) requestInfo(r *http.Request) *reqInfo {
	if info, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok && info.s == s {
		return info
	}
	return &reqInfo{s: s, client: clientIP(r.RemoteAddr), class: classRemote}
}
