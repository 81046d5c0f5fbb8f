package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/certs"
)

func TestClassifyUpstreamError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want Cause
	}{
		{"nxdomain", &url.Error{Op: "Get", URL: "http://x/", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Name: "x", IsNotFound: true}}}, CauseDNSNXDomain},
		{"dns timeout", &net.OpError{Op: "dial", Err: &net.DNSError{Name: "x", IsTimeout: true}}, CauseDNSFailure},
		{"servfail", &net.DNSError{Name: "x", Err: "server misbehaving"}, CauseDNSFailure},
		{"refused", refused, CauseConnectRefused},
		{"unreachable", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, CauseConnectFailure},
		{"unknown CA", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, CauseTLSCertificate},
		{"wrong name", fmt.Errorf("tls: %w", x509.HostnameError{Host: "x"}), CauseTLSCertificate},
		{"alert", &net.OpError{Op: "remote error", Err: errors.New("tls: handshake failure")}, CauseTLSFailure},
		{"record", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, CauseTLSFailure},
		{"deadline", fmt.Errorf("round trip: %w", context.DeadlineExceeded), CauseTimeout},
		{"dial timeout", &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, CauseTimeout},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), causeCanceled},
		{"other", errors.New("malformed HTTP response"), CauseUpstream},
	}
	for _, tc := range tests {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%s: %v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
	if CauseTimeout.Status() != http.StatusGatewayTimeout || CauseDNSNXDomain.Status() != http.StatusBadGateway {
		t.Errorf("statuses: timeout %d, nxdomain %d; want 504 and 502", CauseTimeout.Status(), CauseDNSNXDomain.Status())
	}
}

// freePort is a loopback port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := port(l)
	l.Close()
	return p
}

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	l := listen(t)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return port(l)
}

// badCertServer serves HTTPS with a certificate from a CA nobody trusts.
func badCertServer(t *testing.T) string {
	t.Helper()
	ca, _, err := certs.LoadOrCreate(certs.Options{Dir: t.TempDir(), Name: "untrusted CA"})
	if err != nil {
		t.Fatal(err)
	}
	l := listen(t)
	serveForTest(t, newOrigin(), tls.NewListener(l, certs.NewSigner(ca, certs.SignerOptions{}).TLSConfig("bad.test")))
	return port(l)
}

func TestUpstreamFailurePages(t *testing.T) {
	w := newWorld(t, worldOptions{tweak: func(o *Options) { o.Transport.ResponseHeaderTimeout = 300 * time.Millisecond }})
	c := w.client(nil)
	refusedPort, silentPort, badPort := freePort(t), silentServer(t), badCertServer(t)
	tests := []struct {
		name   string
		url    string
		status int
		cause  Cause
		words  string
	}{
		{"nxdomain", w.httpURL("nowhere.nx.test", "/"), 502, CauseDNSNXDomain, "does not exist"},
		{"nxdomain https", w.httpsURL("nowhere.nx.test", "/"), 502, CauseDNSNXDomain, "does not exist"},
		{"servfail", w.httpURL("broken.servfail.test", "/"), 502, CauseDNSFailure, "could not look the name up"},
		{"refused", "http://refused.test:" + refusedPort + "/", 502, CauseConnectRefused, "refused the connection on port " + refusedPort},
		{"bad certificate", "https://bad.test:" + badPort + "/", 502, CauseTLSCertificate, "signed by an authority this machine does not trust"},
		{"no answer", "http://silent.test:" + silentPort + "/", 504, CauseTimeout, "did not answer in time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := w.proxy.UpstreamFailures()[tc.cause]
			start := time.Now()
			resp, body := w.get(c, tc.url, "Sec-Fetch-Dest", "document", "Accept", "text/html")
			t.Logf("%s answered in %v", tc.url, time.Since(start).Round(time.Millisecond))
			page := string(body)
			if resp.StatusCode != tc.status || resp.Header.Get("X-Pixelwall") != string(tc.cause) {
				t.Errorf("GET %s = %d, X-Pixelwall %q; want %d, %q", tc.url, resp.StatusCode, resp.Header.Get("X-Pixelwall"), tc.status, tc.cause)
			}
			host := strings.Split(strings.TrimPrefix(strings.TrimPrefix(tc.url, "https://"), "http://"), ":")[0]
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") ||
				!strings.Contains(page, "<code>"+host+"</code> cannot be reached") || !strings.Contains(page, tc.words) ||
				!strings.Contains(page, "What to try") {
				t.Errorf("navigation to %s: %s page\n%s\nwant an HTML page naming the host and saying %q", tc.url, ct, page, tc.words)
			}
			if strings.HasPrefix(string(tc.cause), "dns-") && !strings.Contains(page, "DNS resolver asked: <code>"+w.dnsAddr+"</code>") {
				t.Errorf("DNS failure page does not name the resolver asked, %s:\n%s", w.dnsAddr, page)
			}
			if strings.Contains(page, "href=") {
				t.Errorf("error page offers a link (no way past a failure is offered):\n%s", page)
			}
			if got := w.proxy.UpstreamFailures()[tc.cause]; got != before+1 {
				t.Errorf("failures[%s] = %d after the navigation, want %d", tc.cause, got, before+1)
			}

			// A subresource gets a line of text.
			resp, body = w.get(c, tc.url+"x.png", "Sec-Fetch-Dest", "image")
			if resp.StatusCode != tc.status || resp.Header.Get("X-Pixelwall") != string(tc.cause) ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.HasPrefix(string(body), "pixelwall: "+host+": ") {
				t.Errorf("image from %s = %d %q %q, body %q; want %d, a line of text", tc.url, resp.StatusCode,
					resp.Header.Get("X-Pixelwall"), resp.Header.Get("Content-Type"), body, tc.status)
			}
		})
	}
}

func TestFailureCountsCoverEveryCause(t *testing.T) {
	var f failureCounts
	if len(f) != len(Causes) {
		t.Fatalf("failureCounts holds %d causes, Causes lists %d", len(f), len(Causes))
	}
	for _, c := range Causes {
		f.add(c)
	}
	f.add(causeCanceled)
	for i, c := range Causes {
		if n := f[i].Load(); n != 1 {
			t.Errorf("count of %s = %d, want 1", c, n)
		}
	}
}
