package proxy

import (
	"bytes"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// isOwnRequest reports whether r is for the proxy's own pages: addressed to
// pixelwall.internal, or to the listener's own address.
func (s *Server) isOwnRequest(r *http.Request) bool {
	if s.isOwnHost(r.URL.Hostname()) {
		return true
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	// Compare the port first: building the address's string costs three
	// allocations, on every proxied request.
	if ta, ok := la.(*net.TCPAddr); ok {
		if p, err := strconv.ParseUint(r.URL.Port(), 10, 16); err != nil || int(p) != ta.Port {
			return false
		}
	}
	return r.URL.Host == la.String()
}

func (s *Server) isOwnHost(host string) bool {
	return strings.EqualFold(strings.TrimSuffix(host, "."), OwnHost)
}

// servePages serves the proxy's own pages: the CA and how to install it,
// the PAC file, and the block page's allow link. Requests that are not proxy
// requests (a browser opening http://127.0.0.1:8080/) land here too.
func (s *Server) servePages(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/", "/index.html":
		s.serveIndex(w, r)
	case "/ca.pem":
		if s.CA() == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Content-Disposition", `attachment; filename="pixelwall-ca.pem"`)
		w.Write(s.CA().CertPEM())
	case "/ca.crt":
		if s.CA() == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-x509-ca-cert")
		w.Header().Set("Content-Disposition", `attachment; filename="pixelwall-ca.crt"`)
		w.Write(s.CA().CertDER())
	case "/proxy.pac":
		w.Header().Set("Content-Type", "application/x-ns-proxy-autoconfig")
		w.Write([]byte(pacFile(s.proxyAddr(r))))
	case "/allow":
		s.serveAllow(w, r)
	default:
		http.NotFound(w, r)
	}
}

// proxyAddr is the address the client reached the proxy at.
func (s *Server) proxyAddr(r *http.Request) string {
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok && !la.IP.IsUnspecified() {
		return la.String()
	}
	if h := r.Host; h != "" && !s.isOwnHost(hostOnly(h)) {
		return h
	}
	return "127.0.0.1:8080"
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// pacFile sends everything but local names and loopback addresses through
// the proxy, and goes direct when the proxy is down (a blocker should not
// take the network with it). It looks at the host name only: dnsResolve()
// would make the browser block on a lookup for every URL.
func pacFile(addr string) string {
	return `function FindProxyForURL(url, host) {
  if (isPlainHostName(host) || host === "localhost" || dnsDomainIs(host, ".localhost") ||
      dnsDomainIs(host, ".local") || host === "::1" || host === "[::1]" ||
      /^127\.\d+\.\d+\.\d+$/.test(host)) {
    return "DIRECT";
  }
  return "PROXY ` + addr + `; DIRECT";
}
`
}

var indexTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>pixelwall</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em;color:#222}
code{background:#f3f3f3;padding:.1em .3em;border-radius:3px;word-break:break-all}h2{margin-top:1.6em}</style>
</head><body>
<h1>pixelwall</h1>
<p>This proxy blocks tracking pixels, strips tracking parameters and trims cross-site referrers.
To see inside HTTPS it needs your device to trust its certificate authority, which was made on
this machine for this install only.</p>
{{if .HasCA}}
<p><a href="/ca.crt">Download the certificate (.crt)</a> · <a href="/ca.pem">PEM</a><br>
SHA-256 fingerprint: <code>{{.Fingerprint}}</code></p>
<h2>Install it</h2>
<ul>
<li><b>macOS</b>: open the .crt, add it to the System keychain in Keychain Access, open it there and set
<i>When using this certificate</i> to <i>Always Trust</i>.</li>
<li><b>Windows</b>: open the .crt, <i>Install Certificate</i>, Local Machine, place it in
<i>Trusted Root Certification Authorities</i>.</li>
<li><b>Linux</b> (Debian, Ubuntu): <code>sudo cp pixelwall-ca.crt /usr/local/share/ca-certificates/ &amp;&amp; sudo update-ca-certificates</code>;
Fedora: copy it to <code>/etc/pki/ca-trust/source/anchors/</code> and run <code>sudo update-ca-trust</code>.
Firefox keeps its own store: Settings, Privacy &amp; Security, Certificates, View Certificates, Authorities, Import.</li>
<li><b>iOS</b>: open this page in Safari, download the .crt, install the profile in Settings, General, VPN &amp; Device
Management, then enable full trust in Settings, General, About, Certificate Trust Settings.</li>
<li><b>Android</b>: Settings, Security, Encryption &amp; credentials, Install a certificate, CA certificate.
Apps only trust user CAs when they opt in, so most apps keep working untouched and are tunnelled.</li>
</ul>
{{else}}
<p>HTTPS interception is off: no certificate to install.</p>
{{end}}
<h2>Use it</h2>
<p>Set your system or browser proxy to <code>{{.Addr}}</code> for HTTP and HTTPS, or point
automatic proxy configuration at <code>http://{{.Addr}}/proxy.pac</code>.</p>
<p>Hosts that pin their certificates, and banking and update services, are tunnelled without
interception: their trackers are still blocked by name.</p>
</body></html>
`))

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"HasCA": s.CA() != nil, "Addr": s.proxyAddr(r)}
	if s.CA() != nil {
		data["Fingerprint"] = s.CA().Fingerprint()
	}
	var b bytes.Buffer
	if err := indexTmpl.Execute(&b, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}
