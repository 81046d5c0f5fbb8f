package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// lineServer is a TCP server on loopback that sends banner (if any) on
// accepting, then answers each line it reads with "got: " and the line.
func lineServer(t *testing.T, banner string) string {
	t.Helper()
	l := listen(t)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if banner != "" {
					io.WriteString(c, banner)
				}
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					io.WriteString(c, "got: "+line)
				}
			}()
		}
	}()
	return port(l)
}

// TestConnectServerSpeaksFirst: a client that says nothing after its
// CONNECT, waiting for the server's banner (SMTP, IMAP), gets it: the proxy
// tunnels the connection untouched, intercepted host or not.
func TestConnectServerSpeaksFirst(t *testing.T) {
	w := newWorld(t, worldOptions{})
	p := lineServer(t, "220 mail.test ESMTP ready\r\n")
	for _, host := range []string{"mail.test", "bank.test"} { // intercepted by default; passthrough
		conn, br, resp := rawConnect(t, loopbackDial, w.proxyURL.Host, host+":"+p, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT %s: %d", host, resp.StatusCode)
		}
		if line, err := br.ReadString('\n'); line != "220 mail.test ESMTP ready\r\n" {
			t.Errorf("%s: banner = %q, %v", host, line, err)
		}
		// The client's side goes through too once it speaks.
		io.WriteString(conn, "EHLO client.test\r\n")
		if line, err := br.ReadString('\n'); line != "got: EHLO client.test\r\n" {
			t.Errorf("%s: answer to EHLO = %q, %v", host, line, err)
		}
	}
}

// TestConnectPipelinedBytesKept: bytes sent in the same write as the
// CONNECT reach the server, whether the proxy looks at them first
// (intercepted host) or not (passthrough).
func TestConnectPipelinedBytesKept(t *testing.T) {
	w := newWorld(t, worldOptions{})
	p := lineServer(t, "")
	for _, host := range []string{"relay.test", "bank.test"} {
		conn, br, resp := rawConnect(t, loopbackDial, w.proxyURL.Host, host+":"+p, "HELO pipelined\r\n")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT %s: %d", host, resp.StatusCode)
		}
		if line, err := br.ReadString('\n'); line != "got: HELO pipelined\r\n" {
			t.Errorf("%s: pipelined line: server answered %q, %v", host, line, err)
		}
		// The tunnel goes on both ways.
		io.WriteString(conn, "QUIT\r\n")
		if line, err := br.ReadString('\n'); line != "got: QUIT\r\n" {
			t.Errorf("%s: second line: %q, %v", host, line, err)
		}
	}
}

// pipelineConn sends a CONNECT request in the same write as the first
// bytes written after it (a TLS ClientHello), and reads the proxy's answer
// before handing on what follows.
type pipelineConn struct {
	net.Conn
	connect []byte
	br      *bufio.Reader
	read    bool
}

func (c *pipelineConn) Write(p []byte) (int, error) {
	if c.connect != nil {
		b := append(c.connect, p...)
		c.connect = nil
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *pipelineConn) Read(p []byte) (int, error) {
	if !c.read {
		c.read = true
		resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, errors.New("CONNECT answered " + resp.Status)
		}
	}
	return c.br.Read(p)
}

// TestConnectPipelinedTLSIntercepted: a ClientHello sent with the CONNECT
// is still recognised and intercepted with our certificate.
func TestConnectPipelinedTLSIntercepted(t *testing.T) {
	w := newWorld(t, worldOptions{})
	raw, err := net.Dial("tcp", w.proxyURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	target := "news.test:" + w.tlsPort
	pc := &pipelineConn{Conn: raw, connect: []byte("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n"), br: bufio.NewReader(raw)}
	roots := x509.NewCertPool()
	roots.AddCert(w.ca.Cert)
	tc := tls.Client(pc, &tls.Config{ServerName: "news.test", RootCAs: roots})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS through a pipelined CONNECT: %v", err)
	}
	if issuer := tc.ConnectionState().PeerCertificates[0].Issuer.CommonName; issuer != w.ca.Cert.Subject.CommonName {
		t.Errorf("certificate from %q, want ours", issuer)
	}
	io.WriteString(tc, "GET / HTTP/1.1\r\nHost: "+target+"\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello from news.test") {
		t.Errorf("intercepted request: %d %q", resp.StatusCode, body)
	}
}

// TestConnectPlainHTTPStillFiltered: plain HTTP through a CONNECT
// (ws://, http:// through a tunnel) is served as proxied requests.
func TestConnectPlainHTTPStillFiltered(t *testing.T) {
	w := newWorld(t, worldOptions{})
	target := "site.test:" + w.httpPort
	_, br, resp := rawConnect(t, loopbackDial, w.proxyURL.Host, target,
		"GET /echo HTTP/1.1\r\nHost: "+target+"\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	inner, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	var echo map[string]string
	if err := json.NewDecoder(inner.Body).Decode(&echo); err != nil {
		t.Fatal(err)
	}
	if echo["gpc"] != "1" {
		t.Errorf("request through the tunnel was not served by the proxy: origin saw %v", echo)
	}
}

// TestConnectByAddressTunnelsPassthroughServerName: an app that CONNECTs to
// an address and names a passthrough host in its ClientHello is tunnelled
// (it sees the origin's certificate); another name is intercepted.
func TestConnectByAddressTunnelsPassthroughServerName(t *testing.T) {
	w := newWorld(t, worldOptions{})
	target := "127.0.0.1:" + w.tlsPort
	for _, tc := range []struct {
		name, wantCA string
	}{
		{"bank.test", w.originCA.Cert.Subject.CommonName},
		{"news.test", w.ca.Cert.Subject.CommonName},
	} {
		conn, br, resp := rawConnect(t, loopbackDial, w.proxyURL.Host, target, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT %s: %d", target, resp.StatusCode)
		}
		tc0 := tls.Client(&readerConn{Conn: conn, r: br}, &tls.Config{ServerName: tc.name, InsecureSkipVerify: true})
		if err := tc0.Handshake(); err != nil {
			t.Fatalf("%s: handshake: %v", tc.name, err)
		}
		if got := tc0.ConnectionState().PeerCertificates[0].Issuer.CommonName; got != tc.wantCA {
			t.Errorf("ClientHello naming %s: certificate from %q, want %q", tc.name, got, tc.wantCA)
		}
	}
}

// readerConn reads from r, the buffered rest of conn.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c *readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }
