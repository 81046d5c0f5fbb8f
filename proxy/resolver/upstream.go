package resolver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Upstream is a DNS server queries are forwarded to. Exchange must be safe
// for concurrent use and must not modify m.
type Upstream interface {
	Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error)
	String() string
}

// UpstreamOptions configure ParseUpstream.
type UpstreamOptions struct {
	// RootCAs verify DoT and DoH servers; nil means the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds one exchange; default 2 s.
	Timeout time.Duration
}

// ParseUpstream makes an Upstream from its address:
//
//	1.1.1.1, 1.1.1.1:53, [2606:4700::1111]:53, udp://…   plain DNS (UDP, TCP when truncated)
//	tcp://1.1.1.1:53                                       plain DNS over TCP only
//	tls://1.1.1.1:853, tls://dns.example:853               DNS over TLS (RFC 7858)
//	https://dns.example/dns-query                          DNS over HTTPS (RFC 8484)
//
// The TLS name checked for tls:// is the host given (an IP is checked
// against the certificate's IP addresses); "tls://1.1.1.1:853#one.one.one.one"
// checks the name after '#' instead.
func ParseUpstream(s string, o UpstreamOptions) (Upstream, error) {
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	tlsConfig := func(name string) *tls.Config {
		return &tls.Config{ServerName: name, RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "udp", s
	}
	switch scheme {
	case "udp", "tcp":
		addr, err := withPort(rest, "53")
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", s, err)
		}
		return &plainUpstream{addr: addr, tcpOnly: scheme == "tcp", timeout: o.Timeout,
			tcp: newStreamPool(addr, o.Timeout, nil)}, nil
	case "tls":
		hostport, name, _ := strings.Cut(rest, "#")
		addr, err := withPort(hostport, "853")
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", s, err)
		}
		if name == "" {
			name, _, _ = net.SplitHostPort(addr)
		}
		return &dotUpstream{addr: addr, pool: newStreamPool(addr, o.Timeout, tlsConfig(name))}, nil
	case "https":
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("upstream %q: not a DoH URL", s)
		}
		tr := &http.Transport{
			Proxy:               nil,
			TLSClientConfig:     tlsConfig(u.Hostname()),
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: o.Timeout,
		}
		return &dohUpstream{url: u.String(), client: &http.Client{Transport: tr, Timeout: o.Timeout}}, nil
	}
	return nil, fmt.Errorf("upstream %q: unknown scheme %q (want udp, tcp, tls or https)", s, scheme)
}

func withPort(hostport, port string) (string, error) {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport, nil
	}
	h := strings.Trim(hostport, "[]")
	if h == "" {
		return "", fmt.Errorf("no host")
	}
	return net.JoinHostPort(h, port), nil
}

// plainUpstream is classic DNS: UDP, retried over TCP when the answer is
// truncated.
//
// UDP sockets are kept connected in a small pool: a fresh socket per query
// costs more system calls than the query itself. Each is used for at most
// maxSocketUses queries, so that the source port an off-path attacker has to
// guess still changes often (RFC 5452), and one that saw an error or a
// timeout is closed rather than reused.
type plainUpstream struct {
	addr    string
	tcpOnly bool
	timeout time.Duration
	tcp     *streamPool // for tcp:// and answers truncated over UDP

	mu   sync.Mutex
	idle []*upstreamSocket
}

type upstreamSocket struct {
	conn *dns.Conn
	uses int
}

const (
	maxIdleSockets = 16
	maxSocketUses  = 100
)

func (u *plainUpstream) String() string { return u.addr }

func (u *plainUpstream) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	if !u.tcpOnly {
		resp, err := u.exchangeUDP(ctx, m)
		var ne net.Error
		switch {
		case err == nil && !resp.Truncated:
			return resp, nil
		case err != nil && (ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout()):
			return nil, err
		}
		// Truncated, or an answer too big or garbled to read: ask over TCP.
	}
	return u.tcp.exchange(ctx, m)
}

// exchangeUDP asks m over a pooled UDP socket. Answers with another ID or
// to another question (late answers to an earlier query on the socket, or
// spoofing attempts) are skipped.
func (u *plainUpstream) exchangeUDP(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	sock, err := u.socket(ctx)
	if err != nil {
		return nil, err
	}
	sock.conn.SetDeadline(exchangeDeadline(ctx, u.timeout))
	if err := sock.conn.WriteMsg(m); err != nil {
		sock.conn.Close()
		return nil, err
	}
	for {
		resp, err := sock.conn.ReadMsg()
		if err != nil {
			sock.conn.Close()
			return resp, err
		}
		if resp.Id == m.Id && sameQuestion(resp, m) {
			u.release(sock)
			return resp, nil
		}
	}
}

// exchangeDeadline is when an exchange started now gives up: after
// timeout, or at ctx's deadline if that comes first.
func exchangeDeadline(ctx context.Context, timeout time.Duration) time.Time {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		return d
	}
	return deadline
}

// socket takes an idle socket, or connects a new one.
func (u *plainUpstream) socket(ctx context.Context) (*upstreamSocket, error) {
	u.mu.Lock()
	if n := len(u.idle); n > 0 {
		sock := u.idle[n-1]
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		return sock, nil
	}
	u.mu.Unlock()
	d := net.Dialer{Timeout: u.timeout}
	conn, err := d.DialContext(ctx, "udp", u.addr)
	if err != nil {
		return nil, err
	}
	return &upstreamSocket{conn: &dns.Conn{Conn: conn, UDPSize: ednsSize}}, nil
}

// release puts a socket that answered back in the pool, unless it has
// served its share of queries or the pool is full.
func (u *plainUpstream) release(sock *upstreamSocket) {
	sock.uses++
	u.mu.Lock()
	if sock.uses < maxSocketUses && len(u.idle) < maxIdleSockets {
		u.idle = append(u.idle, sock)
		sock = nil
	}
	u.mu.Unlock()
	if sock != nil {
		sock.conn.Close()
	}
}

// sameQuestion says whether answer a is to question b. An answer without a
// question (some servers' errors) is taken on its ID alone.
func sameQuestion(a, b *dns.Msg) bool {
	if len(a.Question) == 0 {
		return true
	}
	if len(a.Question) != 1 || len(b.Question) != 1 {
		return false
	}
	qa, qb := a.Question[0], b.Question[0]
	return qa.Qtype == qb.Qtype && qa.Qclass == qb.Qclass && strings.EqualFold(qa.Name, qb.Name)
}

// dotUpstream is DNS over TLS (RFC 7858).
type dotUpstream struct {
	addr string
	pool *streamPool
}

func (u *dotUpstream) String() string { return "tls://" + u.addr }

func (u *dotUpstream) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	return u.pool.exchange(ctx, m)
}

// dohUpstream is DNS over HTTPS (RFC 8484), POSTing wire-format messages.
type dohUpstream struct {
	url    string
	client *http.Client
}

func (u *dohUpstream) String() string { return u.url }

func (u *dohUpstream) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	q := m.Copy()
	q.Id = 0 // RFC 8484 section 4.1: an ID of 0 makes answers cacheable
	wire, err := q.Pack()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.url, bytes.NewReader(wire))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/dns-message")
	req.Header.Set("Accept", "application/dns-message")
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", u.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, dns.MaxMsgSize+1))
	if err != nil {
		return nil, err
	}
	out := new(dns.Msg)
	if err := out.Unpack(body); err != nil {
		return nil, fmt.Errorf("%s: %w", u.url, err)
	}
	out.Id = m.Id
	return out, nil
}
