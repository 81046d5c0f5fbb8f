package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

func isIPLiteral(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// serverName is the server name of the TLS ClientHello at the front of br,
// read without consuming it; "" when there is none, or the hello does not
// fit in br's buffer.
func serverName(br *bufio.Reader) string {
	hdr, err := br.Peek(5) // a record header: type, version, length
	if err != nil || hdr[0] != 0x16 {
		return ""
	}
	rec, err := br.Peek(5 + int(binary.BigEndian.Uint16(hdr[3:])))
	if err != nil {
		return ""
	}
	var name string
	errRead := errors.New("hello read")
	tc := tls.Server(helloConn{bytes.NewReader(rec)}, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			name = h.ServerName
			return nil, errRead
		},
	})
	_ = tc.Handshake()
	return name
}

// helloConn lets crypto/tls parse a ClientHello held in memory; what it
// would send back goes nowhere.
type helloConn struct{ r io.Reader }

func (c helloConn) Read(p []byte) (int, error)     { return c.r.Read(p) }
func (helloConn) Write(p []byte) (int, error)      { return 0, io.ErrClosedPipe }
func (helloConn) Close() error                     { return nil }
func (helloConn) LocalAddr() net.Addr              { return dummyAddr{} }
func (helloConn) RemoteAddr() net.Addr             { return dummyAddr{} }
func (helloConn) SetDeadline(time.Time) error      { return nil }
func (helloConn) SetReadDeadline(time.Time) error  { return nil }
func (helloConn) SetWriteDeadline(time.Time) error { return nil }

// looksLikeHTTP reports whether the client's first bytes are an HTTP/1
// request line's method and space.
func looksLikeHTTP(br *bufio.Reader) bool {
	b, _ := br.Peek(8) // fewer when the deadline comes first
	i := bytes.IndexByte(b, ' ')
	if i < 3 {
		return false
	}
	switch string(b[:i]) {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE":
		return true
	}
	return false
}

// bufferedConn is a net.Conn whose first bytes were peeked into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// oneConnListener hands one connection to http.Server.Serve and then
// blocks until that connection is closed, or the listener is (by the
// server's Shutdown, which then waits for the connection to go idle).
type oneConnListener struct {
	conn              net.Conn
	once, stopOnce    sync.Once
	closed, listenEnd chan struct{}
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{closed: make(chan struct{}), listenEnd: make(chan struct{})}
	l.conn = &notifyCloseConn{Conn: c, onClose: func() { l.once.Do(func() { close(l.closed) }) }}
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if c := l.conn; c != nil {
		l.conn = nil
		return c, nil
	}
	select {
	case <-l.closed:
	case <-l.listenEnd:
	}
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.stopOnce.Do(func() { close(l.listenEnd) })
	return nil
}
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
