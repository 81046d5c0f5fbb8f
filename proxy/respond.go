package proxy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// transparentGIF is the smallest transparent 1×1 GIF (43 bytes).
var transparentGIF = []byte{
	'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
	'!', 0xf9, 4, 1, 0, 0, 0, 0, ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 'D', 1, 0, ';',
}

// ErrorLog is an http.Server's ErrorLog for the proxy's servers: a panic
// in a handler is logged as an error; the rest (clients that hang up, TLS
// handshakes they abandon) is debug noise.
func ErrorLog(l *slog.Logger) *log.Logger {
	return log.New(errorLogWriter{l}, "", 0)
}

type errorLogWriter struct{ l *slog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "panic serving") {
		w.l.Error("proxy: " + msg)
	} else {
		w.l.Debug("proxy: " + msg)
	}
	return len(p), nil
}

// newResponse builds a complete response to r.
func newResponse(r *http.Request, code int, contentType string, body []byte) *http.Response {
	resp := &http.Response{
		Request:       r,
		StatusCode:    code,
		Status:        strconv.Itoa(code) + " " + http.StatusText(code),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        make(http.Header),
		ContentLength: int64(len(body)),
		Body:          io.NopCloser(bytes.NewReader(body)),
	}
	if contentType != "" {
		resp.Header.Set("Content-Type", contentType)
	}
	return resp
}

// blockedResponse is the empty answer of the right kind for a blocked request.
func (s *Server) blockedResponse(r *http.Request, d blocklist.Decision, host string) *http.Response {
	var resp *http.Response
	switch script, isScript := d.Response.Script(); {
	case isScript: // the no-op script, or a stand-in for a tag script pages call
		resp = newResponse(r, http.StatusOK, "application/javascript; charset=utf-8", script)
	case d.Response == blocklist.ResponseGIF:
		resp = newResponse(r, http.StatusOK, "image/gif", transparentGIF)
	case d.Response == blocklist.ResponseEmptyCSS:
		resp = newResponse(r, http.StatusOK, "text/css; charset=utf-8", nil)
	case d.Response == blocklist.ResponseEmptyHTML:
		resp = newResponse(r, http.StatusOK, "text/html; charset=utf-8", nil)
	case d.Response == blocklist.ResponseEmptyText:
		resp = newResponse(r, http.StatusOK, "text/plain; charset=utf-8", nil)
	case d.Response == blocklist.ResponseBlockPage:
		resp = newResponse(r, http.StatusForbidden, "text/html; charset=utf-8", s.blockPage(r, d, host))
	default: // no content: xhr, ping, beacons, media, websockets
		resp = newResponse(r, http.StatusNoContent, "", nil)
	}
	// Never cached: a list change or an allow takes effect on the next load.
	resp.Header.Set("Cache-Control", "no-store")
	resp.Header.Set("X-Pixelwall", "blocked by "+d.List)
	// Scripts that fetch a blocked URL see an empty success rather than a
	// CORS failure: fewer broken pages.
	if o := r.Header.Get("Origin"); o != "" && d.Response != blocklist.ResponseBlockPage {
		resp.Header.Set("Access-Control-Allow-Origin", o)
		resp.Header.Set("Access-Control-Allow-Credentials", "true")
		resp.Header.Set("Vary", "Origin")
	}
	return resp
}

func redirectResponse(r *http.Request, target string) *http.Response {
	resp := newResponse(r, http.StatusFound, "text/plain; charset=utf-8", nil)
	resp.Header.Set("Location", target)
	resp.Header.Set("Cache-Control", "no-store")
	resp.Header.Set("Referrer-Policy", "no-referrer")
	return resp
}

var blockPageTmpl = template.Must(template.New("block").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Blocked by pixelwall</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}
code{background:#f3f3f3;padding:.1em .3em;border-radius:3px;word-break:break-all}
a.button{display:inline-block;margin-top:1em;padding:.5em 1em;background:#2563eb;color:#fff;border-radius:4px;text-decoration:none}</style>
</head><body>
<h1>pixelwall blocked this page</h1>
<p><code>{{.Host}}</code> is on a tracker list.</p>
<p>Rule <code>{{.Rule}}</code> from list <code>{{.List}}</code>.</p>
<p><a class="button" href="{{.AllowURL}}">Allow {{.Host}} for an hour</a></p>
</body></html>
`))

func (s *Server) blockPage(r *http.Request, d blocklist.Decision, host string) []byte {
	exp := strconv.FormatInt(s.now().Add(time.Minute*10).Unix(), 10)
	q := url.Values{"host": {host}, "exp": {exp}, "next": {r.URL.String()}, "sig": {s.allowSig(host, exp)}}
	var b bytes.Buffer
	_ = blockPageTmpl.Execute(&b, map[string]string{
		"Host": host, "Rule": d.Rule, "List": d.List,
		"AllowURL": "http://" + OwnHost + "/allow?" + q.Encode(),
	})
	return b.Bytes()
}

// allowSig signs an allow link: only block pages this proxy served can
// make one, so a web page cannot unblock a tracker by linking to /allow.
func (s *Server) allowSig(host, exp string) string {
	mac := hmac.New(sha256.New, s.allowKey[:])
	mac.Write([]byte(host + "\x00" + exp))
	return hex.EncodeToString(mac.Sum(nil))
}

// serveAllow handles the block page's "allow for an hour" link.
func (s *Server) serveAllow(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	host, exp, sig, next := q.Get("host"), q.Get("exp"), q.Get("sig"), q.Get("next")
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !hmac.Equal([]byte(sig), []byte(s.allowSig(host, exp))) || s.now().Unix() > unix {
		http.Error(w, "pixelwall: this allow link is invalid or has expired; reload the blocked page", http.StatusForbidden)
		return
	}
	if s.opts.Allow == nil {
		http.Error(w, "pixelwall: allowing from the block page is turned off", http.StatusForbidden)
		return
	}
	if err := s.opts.Allow(blocklist.Override{Host: host, Until: s.now().Add(time.Hour)}); err != nil {
		http.Error(w, "pixelwall: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.log.Info("allowed for an hour from the block page", "host", host, "client", clientIP(r.RemoteAddr))
	if u, err := url.Parse(next); err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Hostname(), host) {
		http.Redirect(w, r, next, http.StatusFound)
		return
	}
	io.WriteString(w, "pixelwall: "+host+" is allowed for an hour\n")
}
