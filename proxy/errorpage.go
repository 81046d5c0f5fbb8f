package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"html/template"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/pixelwall/pixelwall/blocklist"
)

// Cause names why an upstream request failed. It is sent to the client in
// the X-Pixelwall header and is the label of the failure counters.
type Cause string

// Causes of upstream failures.
const (
	CauseDNSNXDomain    Cause = "dns-nxdomain"    // the resolver says the name does not exist
	CauseDNSFailure     Cause = "dns-failure"     // the resolver failed or did not answer
	CauseConnectRefused Cause = "connect-refused" // the host refused the TCP connection
	CauseConnectFailure Cause = "connect-failure" // unreachable, reset, or another dial error
	CauseTLSCertificate Cause = "tls-certificate" // the host's certificate did not verify
	CauseTLSFailure     Cause = "tls-failure"     // the TLS handshake failed otherwise
	CauseTimeout        Cause = "timeout"         // no connection or no response headers in time
	CauseUpstream       Cause = "upstream-error"  // anything else between us and the host
	causeCanceled       Cause = ""                // the client went away: nothing to answer or count
)

// Causes lists every Cause, in the order metrics show them.
var Causes = []Cause{CauseDNSNXDomain, CauseDNSFailure, CauseConnectRefused, CauseConnectFailure,
	CauseTLSCertificate, CauseTLSFailure, CauseTimeout, CauseUpstream}

// Status is the HTTP status a failure with this cause is answered with:
// 504 for timeouts, 502 for the rest (RFC 9110 sections 15.6.3 and 15.6.5).
func (c Cause) Status() int {
	if c == CauseTimeout {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// classify finds the cause of an upstream error. The resolver's errors are
// looked at first, as a DNS timeout is a net.Error that times out too.
func classify(err error) Cause {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	var record tls.RecordHeaderError
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case err == nil:
		return causeCanceled
	case errors.Is(err, context.Canceled):
		return causeCanceled
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return CauseDNSNXDomain
		}
		return CauseDNSFailure
	case errors.As(err, &verify), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return CauseTLSCertificate
	case errors.As(err, &alert), errors.As(err, &record):
		return CauseTLSFailure
	case errors.Is(err, syscall.ECONNREFUSED):
		return CauseConnectRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return CauseTimeout
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return CauseConnectFailure
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return CauseTLSFailure
	}
	return CauseUpstream
}

// failureCounts counts upstream failures by cause. Safe for concurrent use.
type failureCounts [8]atomic.Uint64

func (f *failureCounts) add(c Cause) {
	for i, k := range Causes {
		if k == c {
			f[i].Add(1)
			return
		}
	}
}

// UpstreamFailures reports how many upstream requests and tunnels failed,
// by cause, since the server started.
func (s *Server) UpstreamFailures() map[Cause]uint64 {
	out := make(map[Cause]uint64, len(Causes))
	for i, c := range Causes {
		out[c] = s.failures[i].Load()
	}
	return out
}

// upstreamFailure answers a request whose upstream round trip failed
// (goproxy calls the response hooks with a nil response and ctx.Error):
// a page for navigations, a line of text for the rest, the cause in the
// X-Pixelwall header. It returns nil when the client went away.
func (s *Server) upstreamFailure(r *http.Request, err error) *http.Response {
	cause := classify(err)
	if cause == causeCanceled {
		return nil
	}
	s.failures.add(cause)
	host := strings.ToLower(r.URL.Hostname())
	info := failureInfo{Host: host, Cause: cause, Status: cause.Status(), Detail: err.Error()}
	info.Words, info.Try = cause.explain(host, r.URL.Port(), err)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		info.Resolver = resolverAsked(err, dnsErr)
	}
	s.log.Debug("upstream request failed", "host", host, "cause", cause, "err", err)

	var resp *http.Response
	if RequestType(r.Header, r.URL.Path) == blocklist.TypeDocument && r.Method == http.MethodGet {
		var b bytes.Buffer
		_ = errorPageTmpl.Execute(&b, info)
		resp = newResponse(r, info.Status, "text/html; charset=utf-8", b.Bytes())
	} else {
		line := "pixelwall: " + host + ": " + info.Words
		if info.Resolver != "" {
			line += " (resolver asked: " + info.Resolver + ")"
		}
		resp = newResponse(r, info.Status, "text/plain; charset=utf-8", []byte(line+"\n"))
	}
	resp.Header.Set("X-Pixelwall", string(cause))
	resp.Header.Set("Cache-Control", "no-store")
	return resp
}

// countDialFailure counts a failed dial for a plain tunnel, which goproxy
// answers itself.
func (s *Server) countDialFailure(err error) {
	if c := classify(err); c != causeCanceled {
		s.failures.add(c)
	}
}

// failureInfo is what an error page shows.
type failureInfo struct {
	Host     string
	Cause    Cause
	Status   int
	Words    string // the cause in words
	Try      string // what to do about it
	Resolver string // the DNS server asked, for DNS failures
	Detail   string // the error as Go reported it
}

// explain puts a cause in words and says what to try.
func (c Cause) explain(host, port string, err error) (words, try string) {
	switch c {
	case CauseDNSNXDomain:
		return "the name does not exist: the DNS resolver answered that there is no such host.",
			"Check the address for a typing mistake. If the name is on your own network, forward its domain to your router (dns.domain_upstreams) or open it by its IP address."
	case CauseDNSFailure:
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsTimeout {
			return "the DNS resolver did not answer in time.",
				"Check that the resolvers in dns.upstreams are reachable, then reload the page."
		}
		return "the DNS resolver could not look the name up.",
			"Check that the resolvers in dns.upstreams work, then reload the page."
	case CauseConnectRefused:
		return "the server refused the connection" + onPort(port) + ": nothing is listening there.",
			"The site may be down or may not serve this port. Try again later."
	case CauseConnectFailure:
		return "pixelwall could not connect to the server" + onPort(port) + ".",
			"Check this machine's network connection; the site may be unreachable from here."
	case CauseTLSCertificate:
		return "the server's certificate is not valid for this name: " + certReason(err) + ". " +
				"pixelwall does not offer to continue: a bad certificate can mean that someone is intercepting the connection.",
			"If this is your own server with a private certificate authority, add that authority in http.upstream_ca_file."
	case CauseTLSFailure:
		return "the secure connection to the server failed during the handshake.",
			"The server may only speak old or unusual TLS versions. Try again later, or ask its owner."
	case CauseTimeout:
		return "the server did not answer in time.",
			"The site may be overloaded or down. Reload the page to try again."
	}
	return "the request to the server failed.", "Reload the page to try again."
}

func onPort(port string) string {
	if port == "" {
		return ""
	}
	return " on port " + port
}

// certReason says briefly why a certificate did not verify.
func certReason(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &hostErr):
		return "it was issued for other names"
	case errors.As(err, &unknownCA):
		return "it is signed by an authority this machine does not trust"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "it has expired or is not valid yet"
	}
	return "it did not verify"
}

var errorPageTmpl = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Host}} cannot be reached</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}
code{background:#f3f3f3;padding:.1em .3em;border-radius:3px;word-break:break-all}
.cause{color:#666;font-size:14px}details{margin-top:2em;color:#555;font-size:14px}</style>
</head><body>
<h1><code>{{.Host}}</code> cannot be reached</h1>
<p>pixelwall asked for this page, but {{.Words}}</p>
{{if .Resolver}}<p>DNS resolver asked: <code>{{.Resolver}}</code></p>{{end}}
<h2>What to try</h2>
<p>{{.Try}}</p>
<p class="cause">Error {{.Status}} · cause <code>{{.Cause}}</code> · answered by pixelwall</p>
<details><summary>Technical detail</summary><p><code>{{.Detail}}</code></p></details>
</body></html>
`))

// resolverAsked names the DNS servers a failed lookup went to, as the
// Resolver reports them in the error (the resolver core names its
// upstreams), else the system resolver.
func resolverAsked(_ error, dnsErr *net.DNSError) string {
	if dnsErr.Server != "" {
		return dnsErr.Server
	}
	return "the system resolver"
}
