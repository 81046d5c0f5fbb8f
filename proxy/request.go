package proxy

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/elazarl/goproxy"

	"github.com/pixelwall/pixelwall/blocklist"
)

// requestPool recycles the filter engine's requests.
var requestPool = sync.Pool{New: func() any { return new(blocklist.Request) }}

// reqState travels from onRequest to onResponse in ctx.UserData.
type reqState struct {
	answered bool // the response is ours: leave it alone
	excepted bool // a list exception matched: nothing is learned from it
	typ      blocklist.Type
	third    bool
	source   string
}

// onRequest decides on every proxied request (plain HTTP and intercepted
// HTTPS): blocked requests are answered here and never reach upstream;
// navigations through redirect trackers or with tracking parameters are
// redirected to the clean target; other requests are forwarded cleaned, with
// privacy headers.
func (s *Server) onRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	st := &reqState{}
	ctx.UserData = st
	ctx.RoundTripper = s.rt[s.requestInfo(r).class]
	addr := clientIP(r.RemoteAddr)
	client := addr.String()
	st.typ = requestType(r)
	source := sourceURL(r)

	// A Request is reused (its buffers with it); nothing keeps it, or
	// points into it, past this call.
	breq := requestPool.Get().(*blocklist.Request)
	defer requestPool.Put(breq)
	rawURL := r.URL.String()
	if err := breq.Reset(rawURL, source, st.typ); err != nil {
		return r, nil // not a URL the lists can speak about
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		breq.ThirdParty = site == "cross-site"
	}
	st.third, st.source = breq.ThirdParty, breq.SourceHost
	ev := Event{Client: client, Method: r.Method, Host: breq.Host, URL: rawURL, Type: st.typ.String(), Source: breq.SourceHost}

	pol := s.opts.Policy()
	d := pol.Decide(breq, addr)
	if d.Action == blocklist.Pass {
		ev.CloakedBy, d = s.uncloak(r.Context(), pol, addr, breq)
	}
	if d.Action == blocklist.Block {
		st.answered = true
		ev.Kind, ev.Rule, ev.List, ev.Response = KindBlocked, d.Rule, d.List, d.Response.String()
		s.emit(ev)
		return r, s.blockedResponse(r, d, breq.Host)
	}
	st.excepted = d.Action == blocklist.Allow
	if d.Action == blocklist.Pass && s.opts.Learner != nil {
		if ld := s.opts.Learner.Match(breq); ld.Action == blocklist.Block {
			if _, ok := pol.Allowed(addr, breq.Host, breq.SourceHost); !ok {
				return r, s.learnedBlock(r, st, ev, ld)
			}
		}
	}

	navigation := st.typ == blocklist.TypeDocument && (r.Method == http.MethodGet || r.Method == http.MethodHead)
	if navigation {
		if target, ok := unwrapRedirect(r.URL); ok {
			st.answered = true
			ev.Kind, ev.Detail = KindUnwrapped, target
			s.emit(ev)
			return r, redirectResponse(r, target)
		}
	}
	if clean, removed := pol.Clean(breq); removed != nil {
		ev.Kind, ev.Removed = KindParamsStripped, removed
		s.emit(ev)
		if navigation {
			// The address bar and shared links stay clean.
			st.answered = true
			return r, redirectResponse(r, clean)
		}
		if u, err := url.Parse(clean); err == nil {
			r.URL, rawURL = u, clean
		}
	}

	s.privacyHeaders(r, breq, ev)
	removeHopByHop(r.Header)
	ev.Kind, ev.Removed, ev.URL = KindPassed, nil, rawURL
	s.emit(ev)
	return r, nil
}

// privacyHeaders trims a cross-site Referer and adds Sec-GPC and DNT.
func (s *Server) privacyHeaders(r *http.Request, breq *blocklist.Request, ev Event) {
	if !s.opts.NoGPC {
		r.Header.Set("Sec-GPC", "1")
		r.Header.Set("DNT", "1")
	}
	ref := r.Header.Get("Referer")
	if ref == "" || s.opts.Referer == RefererKeep {
		return
	}
	// The Referer is the request's source (sourceURL), so breq already
	// says whether it is another site, Sec-Fetch-Site taken into account.
	if !breq.ThirdParty {
		return // same site: nothing leaks
	}
	ru, err := url.Parse(ref)
	if err != nil || ru.Host == "" {
		return
	}
	origin := ru.Scheme + "://" + ru.Host + "/"
	switch {
	case s.opts.Referer == RefererStripCrossSite:
		r.Header.Del("Referer")
		ev.Detail = "removed"
	case ref != origin:
		r.Header.Set("Referer", origin)
		ev.Detail = "trimmed to " + origin
	default:
		return // already just the origin
	}
	ev.Kind = KindReferer
	s.emit(ev)
}

// hopByHop are the headers that belong to one connection, not the request
// (RFC 9110 section 7.6.1); Upgrade stays for WebSockets.
var hopByHop = []string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding"}

func removeHopByHop(h http.Header) {
	upgrade := strings.EqualFold(h.Get("Upgrade"), "websocket")
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			name = strings.TrimSpace(name)
			if name != "" && !(upgrade && strings.EqualFold(name, "Upgrade")) {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	if !upgrade {
		h.Del("Upgrade")
	}
}

// requestType works out what a request is for: Sec-Fetch-Dest first, then
// Accept, then the path's extension.
func requestType(r *http.Request) blocklist.Type {
	switch dest := r.Header.Get("Sec-Fetch-Dest"); dest {
	case "":
	case "document":
		return blocklist.TypeDocument
	case "iframe", "frame", "fencedframe":
		return blocklist.TypeSubdocument
	case "image":
		return blocklist.TypeImage
	case "script", "worker", "sharedworker", "serviceworker", "audioworklet", "paintworklet":
		return blocklist.TypeScript
	case "style":
		return blocklist.TypeStylesheet
	case "font":
		return blocklist.TypeFont
	case "audio", "video", "track":
		return blocklist.TypeMedia
	case "object", "embed":
		return blocklist.TypeObject
	case "empty":
		if r.Header.Get("Upgrade") != "" {
			return blocklist.TypeWebSocket
		}
		if strings.Contains(r.Header.Get("Content-Type"), "text/ping") || r.Header.Get("Ping-To") != "" {
			return blocklist.TypePing
		}
		return blocklist.TypeXMLHTTPRequest
	default:
		return blocklist.TypeOther
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return blocklist.TypeWebSocket
	}
	if r.Header.Get("Ping-To") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "text/ping") {
		return blocklist.TypePing
	}
	accept := r.Header.Get("Accept")
	switch {
	case strings.HasPrefix(accept, "text/html"), strings.HasPrefix(accept, "application/xhtml"):
		return blocklist.TypeDocument
	case strings.HasPrefix(accept, "image/"):
		return blocklist.TypeImage
	case strings.HasPrefix(accept, "text/css"):
		return blocklist.TypeStylesheet
	case strings.Contains(accept, "javascript"):
		return blocklist.TypeScript
	case strings.HasPrefix(accept, "application/json"):
		return blocklist.TypeXMLHTTPRequest
	}
	if t, ok := blocklist.TypeFromExtension(r.URL.Path); ok && t != blocklist.TypeSubdocument {
		return t
	}
	switch ext := path.Ext(r.URL.Path); ext {
	case ".html", ".htm", ".php", "":
		if accept == "" || strings.Contains(accept, "*/*") && r.Header.Get("Referer") == "" {
			return blocklist.TypeDocument
		}
	}
	return blocklist.TypeOther
}

// sourceURL is the page that made the request: the Referer, else the Origin.
func sourceURL(r *http.Request) string {
	if ref := r.Header.Get("Referer"); ref != "" {
		return ref
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		return o + "/"
	}
	return ""
}

// isMailClient recognises desktop mail clients, whose remote images are
// open-tracking pixels far more often than not.
func isMailClient(r *http.Request) bool {
	ua := r.Header.Get("User-Agent")
	return strings.Contains(ua, "Thunderbird") || strings.Contains(ua, "Microsoft Outlook") ||
		strings.Contains(ua, "ms-office") || strings.Contains(ua, "Evolution/") || strings.Contains(ua, "KMail") ||
		strings.Contains(ua, "Mail/") && !strings.Contains(ua, "Safari/")
}
