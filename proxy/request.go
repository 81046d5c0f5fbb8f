package proxy

import (
	"net/http"
	"net/url"
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
	settings clientSettings // of the client's group
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

	// A Request is reused (its buffers with it); nothing keeps it, or
	// points into it, past this call.
	breq := requestPool.Get().(*blocklist.Request)
	defer requestPool.Put(breq)
	rawURL := r.URL.String()
	if err := Classify(breq, rawURL, r.Header); err != nil {
		return r, nil // not a URL the lists can speak about
	}
	st.typ, st.third, st.source = breq.Type, breq.ThirdParty, breq.SourceHost
	ev := Event{Client: client, Method: r.Method, Host: breq.Host, URL: rawURL, Type: st.typ.String(), Source: breq.SourceHost}

	pol := s.opts.Policy()
	st.settings = s.settingsFor(pol, addr)
	d := pol.Decide(breq, addr)
	if d.Paused {
		s.emitPaused(ev, d)
	}
	if d.Action == blocklist.Pass {
		ev.CloakedBy, d = s.uncloak(r.Context(), pol, addr, breq)
	}
	if d.Action == blocklist.Block && d.List == blocklist.LearnedListName {
		// The learner has the last word on its rules (one unused for too
		// long is forgotten rather than applied).
		if s.opts.Learner != nil && s.opts.Learner.Match(breq).Action == blocklist.Block {
			return r, s.learnedBlock(r, st, ev, d)
		}
		d = blocklist.Decision{}
	}
	if d.Action == blocklist.Block {
		st.answered = true
		ev.Kind, ev.Rule, ev.List, ev.Response = KindBlocked, d.Rule, d.List, d.Response.String()
		s.emit(ev)
		return r, s.blockedResponse(r, d, breq.Host)
	}
	st.excepted = d.Action == blocklist.Allow

	navigation := st.typ == blocklist.TypeDocument && (r.Method == http.MethodGet || r.Method == http.MethodHead)
	if navigation {
		if target, ok := unwrapRedirect(r.URL); ok {
			st.answered = true
			ev.Kind, ev.Detail = KindUnwrapped, target
			s.emit(ev)
			return r, redirectResponse(r, target)
		}
	}
	if clean, removed := pol.CleanFor(breq, addr); removed != nil {
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

	s.privacyHeaders(r, breq, ev, st.settings)
	removeHopByHop(r.Header)
	if !d.Paused { // a paused request was logged (and counted) as paused
		ev.Kind, ev.Removed, ev.URL = KindPassed, nil, rawURL
		s.emit(ev)
	}
	return r, nil
}

// privacyHeaders trims a cross-site Referer and adds Sec-GPC and DNT.
func (s *Server) privacyHeaders(r *http.Request, breq *blocklist.Request, ev Event, cs clientSettings) {
	if !cs.noGPC {
		r.Header.Set("Sec-GPC", "1")
		r.Header.Set("DNT", "1")
	}
	ref := r.Header.Get("Referer")
	if ref == "" || cs.referer == RefererKeep {
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
	case cs.referer == RefererStripCrossSite:
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

// RequestType works out what a request is for, from its headers and its
// URL's path. Sec-Fetch-Dest decides when the client sends it. Without it
// (mail apps, older browsers, scripts) a request is a top-level document
// only when Accept asks for HTML first: a pixel fetched with "Accept: */*"
// is not a navigation, and rules that leave documents alone must still
// apply to it. Then Accept's image, stylesheet, script and JSON types, then
// the path's extension; what a mail client loads is an image (remote
// content in a message is images), and anything else is "other".
func RequestType(h http.Header, urlPath string) blocklist.Type {
	switch dest := h.Get("Sec-Fetch-Dest"); dest {
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
		if h.Get("Upgrade") != "" {
			return blocklist.TypeWebSocket
		}
		if strings.Contains(h.Get("Content-Type"), "text/ping") || h.Get("Ping-To") != "" {
			return blocklist.TypePing
		}
		return blocklist.TypeXMLHTTPRequest
	default:
		return blocklist.TypeOther
	}
	if strings.EqualFold(h.Get("Upgrade"), "websocket") {
		return blocklist.TypeWebSocket
	}
	if h.Get("Ping-To") != "" || strings.HasPrefix(h.Get("Content-Type"), "text/ping") {
		return blocklist.TypePing
	}
	accept := strings.TrimSpace(h.Get("Accept"))
	switch {
	case strings.HasPrefix(accept, "text/html"), strings.HasPrefix(accept, "application/xhtml"):
		return blocklist.TypeDocument
	case strings.HasPrefix(accept, "image/"):
		return blocklist.TypeImage
	case strings.HasPrefix(accept, "text/css"):
		return blocklist.TypeStylesheet
	case strings.Contains(accept, "javascript"), strings.Contains(accept, "ecmascript"):
		return blocklist.TypeScript
	case strings.HasPrefix(accept, "application/json"), h.Get("X-Requested-With") == "XMLHttpRequest":
		return blocklist.TypeXMLHTTPRequest
	}
	if t, ok := blocklist.TypeFromExtension(urlPath); ok && t != blocklist.TypeSubdocument {
		return t // (an .html file fetched without asking for HTML is no frame we know of)
	}
	if isMailClient(h) {
		return blocklist.TypeImage
	}
	return blocklist.TypeOther
}

// Classify resets breq to a request for rawURL with headers h, as the proxy
// decides on it: the source page is the Referer, else the Origin; the type
// is RequestType's; it is third-party when Sec-Fetch-Site says cross-site,
// else when the source is another site or unknown (a mail client's images).
// `pixelwall check` classifies its requests here too, so that both decide
// alike.
func Classify(breq *blocklist.Request, rawURL string, h http.Header) error {
	if err := breq.Reset(rawURL, sourceURL(h), RequestType(h, urlPath(rawURL))); err != nil {
		return err
	}
	if site := h.Get("Sec-Fetch-Site"); site != "" {
		breq.ThirdParty = site == "cross-site"
	}
	return nil
}

// urlPath is the path of an absolute URL (with its query, which
// TypeFromExtension ignores), "/" when it has none; a string that is not an
// absolute URL is taken as a path.
func urlPath(rawURL string) string {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return rawURL
	}
	rest := rawURL[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 && rest[j] == '/' {
		return rest[j:]
	}
	return "/"
}

// sourceURL is the page that made the request: the Referer, else the Origin.
func sourceURL(h http.Header) string {
	if ref := h.Get("Referer"); ref != "" {
		return ref
	}
	if o := h.Get("Origin"); o != "" && o != "null" {
		return o + "/"
	}
	return ""
}

// mailClients are User-Agent fragments of mail apps and of the image proxies
// of webmail services (Gmail's GoogleImageProxy, Yahoo's YahooMailProxy):
// their remote images are open-tracking pixels far more often than not.
var mailClients = []string{
	"Thunderbird/", "Microsoft Outlook", "ms-office", "MSOffice", "Evolution/", "KMail", "Claws Mail",
	"Mailspring/", "eM Client", "Airmail", "Postbox/", "Mailbird", "Geary/", "The Bat!",
	"GoogleImageProxy", "YahooMailProxy",
}

// isMailClient recognises a mail app or webmail image proxy by its
// User-Agent. Apple Mail sends WebKit's User-Agent without the "Safari/"
// and "Version/" tokens every Safari sends, or (older) a "Mail/" token.
func isMailClient(h http.Header) bool {
	ua := h.Get("User-Agent")
	if ua == "" {
		return false
	}
	for _, m := range mailClients {
		if strings.Contains(ua, m) {
			return true
		}
	}
	if strings.Contains(ua, "Safari/") {
		return false
	}
	return strings.Contains(ua, "Mail/") ||
		strings.Contains(ua, "Macintosh") && strings.Contains(ua, "AppleWebKit/") && !strings.Contains(ua, "Version/")
}
