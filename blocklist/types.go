package blocklist

import "strings"

// Type is a set of request types as bit flags. A rule's type set says which
// requests it applies to; a Request carries exactly one bit.
type Type uint16

// Request types, named as in Adblock filter options.
const (
	TypeOther Type = 1 << iota
	TypeScript
	TypeImage
	TypeStylesheet
	TypeObject
	TypeSubdocument
	TypeDocument
	TypeXMLHTTPRequest
	TypePing
	TypeMedia
	TypeFont
	TypeWebSocket

	// typesAll is every type we model. typesDefault is what a rule without
	// type options applies to: everything but top-level documents, which
	// only rules that say $document (or pure hostname rules) block.
	typesAll     = TypeWebSocket<<1 - 1
	typesDefault = typesAll &^ TypeDocument
)

var typeNames = [...]string{
	"other", "script", "image", "stylesheet", "object", "subdocument", "document",
	"xmlhttprequest", "ping", "media", "font", "websocket",
}

// String returns the Adblock option name of a single type, or the names of a
// set joined by "|".
func (t Type) String() string {
	var b strings.Builder
	for i, name := range typeNames {
		if t&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}

// ParseType maps an Adblock type name or a browser's name for a request type
// (webRequest's resourceType, Sec-Fetch-Dest and DevTools names) to a Type.
func ParseType(name string) (Type, bool) {
	switch strings.ToLower(name) {
	case "other", "texttrack", "manifest", "eventsource", "csp_report", "speculative", "track", "":
		return TypeOther, true
	case "script", "worker", "sharedworker", "serviceworker":
		return TypeScript, true
	case "image", "imageset", "img":
		return TypeImage, true
	case "stylesheet", "css", "style":
		return TypeStylesheet, true
	case "object", "object_subrequest", "object-subrequest", "embed":
		return TypeObject, true
	case "subdocument", "sub_frame", "iframe", "frame":
		return TypeSubdocument, true
	case "document", "main_frame":
		return TypeDocument, true
	case "xmlhttprequest", "xhr", "fetch", "empty":
		return TypeXMLHTTPRequest, true
	case "ping", "beacon":
		return TypePing, true
	case "media", "audio", "video":
		return TypeMedia, true
	case "font":
		return TypeFont, true
	case "websocket":
		return TypeWebSocket, true
	}
	return 0, false
}

// Action is what a Decision says to do with a request.
type Action uint8

const (
	// Pass: no rule matched; the request goes ahead.
	Pass Action = iota
	// Block: a blocking rule matched and no exception did (or the rule was $important).
	Block
	// Allow: a blocking rule matched but an exception (@@) rule overrode it.
	Allow
)

func (a Action) String() string {
	switch a {
	case Block:
		return "block"
	case Allow:
		return "allow"
	}
	return "pass"
}

// Response is the kind of empty answer the proxy gives for a blocked request.
type Response uint8

const (
	ResponseNone       Response = iota // not blocked
	ResponseGIF                        // transparent 1×1 GIF
	ResponseNoContent                  // 204 No Content
	ResponseEmptyJS                    // empty application/javascript
	ResponseEmptyCSS                   // empty text/css
	ResponseEmptyHTML                  // empty text/html (frames)
	ResponseEmptyText                  // empty text/plain
	ResponseEmptyMedia                 // 204 for audio/video, named apart for logs
	ResponseBlockPage                  // a page explaining the block (top-level documents)

	// Stand-in scripts (surrogates): a blocked tag script is answered with
	// our own script that keeps its public API working and sends nothing,
	// so pages that call it do not break. Script returns the body.
	ResponseGoogleAnalytics       // Google Analytics analytics.js
	ResponseGoogleTag             // the Google tag, gtag.js
	ResponseTagManager            // Google Tag Manager, gtm.js
	ResponseMetaPixel             // the Meta Pixel, fbevents.js
	ResponseMicrosoftUET          // Microsoft Advertising UET, bat.js
	ResponseSegment               // Segment's Analytics.js
	ResponsePlausible             // Plausible's script.js
	ResponseFathom                // Fathom's script.js
	ResponseGoogleAnalyticsLegacy // the legacy Google Analytics ga.js

	responseLast = ResponseGoogleAnalyticsLegacy
)

var responseNames = [...]string{"", "1x1-gif", "no-content", "empty-js", "empty-css", "empty-html", "empty-text", "empty-media", "block-page",
	"stand-in-analytics.js", "stand-in-gtag.js", "stand-in-gtm.js", "stand-in-fbevents.js", "stand-in-bat.js", "stand-in-segment.js",
	"stand-in-plausible.js", "stand-in-fathom.js", "stand-in-ga.js"}

func (r Response) String() string {
	if int(r) < len(responseNames) {
		return responseNames[r]
	}
	return "unknown"
}

// ResponseFor picks the empty answer that suits a request type.
func ResponseFor(t Type) Response {
	switch t {
	case TypeImage:
		return ResponseGIF
	case TypeScript:
		return ResponseEmptyJS
	case TypeStylesheet:
		return ResponseEmptyCSS
	case TypeSubdocument:
		return ResponseEmptyHTML
	case TypeDocument:
		return ResponseBlockPage
	case TypeMedia:
		return ResponseEmptyMedia
	case TypeFont, TypeObject, TypeOther:
		return ResponseEmptyText
	}
	return ResponseNoContent // xhr, ping, websocket
}

// redirectResources maps uBO/AdGuard redirect resource names to our
// responses. Any other name ending in ".js" is a surrogate script we do not
// have and gets the generic no-op script.
var redirectResources = map[string]Response{
	"1x1.gif": ResponseGIF, "1x1-transparent.gif": ResponseGIF, "2x2.png": ResponseGIF,
	"2x2-transparent.png": ResponseGIF, "3x2.png": ResponseGIF, "3x2-transparent.png": ResponseGIF,
	"32x32.png": ResponseGIF, "32x32-transparent.png": ResponseGIF,
	"noopjs": ResponseEmptyJS, "noop.js": ResponseEmptyJS, "noopcss": ResponseEmptyCSS, "noop.css": ResponseEmptyCSS,
	"noopframe": ResponseEmptyHTML, "noop.html": ResponseEmptyHTML, "noopvast-2.0": ResponseEmptyText,
	"noopvast-3.0": ResponseEmptyText, "noopvast-4.0": ResponseEmptyText, "noopvmap-1.0": ResponseEmptyText,
	"nooptext": ResponseEmptyText, "noop.txt": ResponseEmptyText, "noop.json": ResponseEmptyText,
	"noopjson": ResponseEmptyText, "empty": ResponseEmptyText, "none": ResponseNone,
	"noopmp3-0.1s": ResponseEmptyMedia, "noop-0.1s.mp3": ResponseEmptyMedia, "noopmp4-1s": ResponseEmptyMedia,
	"noop-1s.mp4": ResponseEmptyMedia, "mp4": ResponseEmptyMedia, "click2load.html": ResponseEmptyHTML,

	// Stand-in scripts under uBlock Origin's names (and their
	// "host/path" aliases), AdGuard's names (and its "ubo-" aliases), and
	// our own where neither has one (googletagmanager_gtag.js,
	// facebook_fbevents.js, bing_bat.js, segment_analytics.js, plausible.js,
	// fathom.js).
	"google-analytics_analytics.js":     ResponseGoogleAnalytics,
	"google-analytics.com/analytics.js": ResponseGoogleAnalytics,
	"google-analytics":                  ResponseGoogleAnalytics,
	"ubo-google-analytics_analytics.js": ResponseGoogleAnalytics,
	"ubo-google-analytics_analytics":    ResponseGoogleAnalytics,
	"googletagmanager_gtm.js":           ResponseTagManager,
	"googletagmanager.com/gtm.js":       ResponseTagManager,
	"googletagmanager-gtm":              ResponseTagManager,
	"ubo-googletagmanager_gtm.js":       ResponseTagManager,
	"ubo-googletagmanager_gtm":          ResponseTagManager,
	"googletagmanager_gtag.js":          ResponseGoogleTag,
	"facebook_fbevents.js":              ResponseMetaPixel,
	"fbevents.js":                       ResponseMetaPixel,
	"fb-events":                         ResponseMetaPixel,
	"bing_bat.js":                       ResponseMicrosoftUET,
	"segment_analytics.js":              ResponseSegment,
	"plausible.js":                      ResponsePlausible,
	"fathom.js":                         ResponseFathom,
	"google-analytics_ga.js":            ResponseGoogleAnalyticsLegacy,
	"google-analytics.com/ga.js":        ResponseGoogleAnalyticsLegacy,
	"google-analytics-ga":               ResponseGoogleAnalyticsLegacy,
	"ubo-google-analytics_ga.js":        ResponseGoogleAnalyticsLegacy,
	"ubo-google-analytics_ga":           ResponseGoogleAnalyticsLegacy,
}

func redirectResponse(name string) (Response, bool) {
	if r, ok := redirectResources[name]; ok {
		return r, true
	}
	// "name:priority" is uBO's way of ranking redirects; the priority does not
	// change which empty answer we give.
	if i := strings.LastIndexByte(name, ':'); i > 0 {
		return redirectResponse(name[:i])
	}
	// Surrogate scripts: "google-analytics_ga.js", "fuckadblock.js-3.2.0".
	if strings.HasSuffix(name, ".js") || strings.Contains(name, ".js-") {
		return ResponseEmptyJS, true
	}
	return 0, false
}

// Decision is the verdict on one request.
type Decision struct {
	Action Action
	// Rule is the text of the deciding rule: the blocking rule for Block, the
	// exception for Allow. Empty for Pass.
	Rule string
	// List is the name of the list Rule came from.
	List string
	// Response is the empty answer to give for Block.
	Response Response
	// Important is set when an $important rule decided.
	Important bool
	// StandIn is set on a MatchHost block when rules answer some requests
	// to the host with a resource of ours, a stand-in script mostly: a
	// proxy that can see those requests should decide them one by one
	// rather than refuse the host's connections. DNS blocks the host all
	// the same.
	StandIn bool
	// Paused is set on an Allow that a pause made of a Block: Rule and
	// List are the blocking rule's, for the log.
	Paused bool
}

// TypeFromExtension guesses a request's type from its URL path's file
// extension, the last resort when neither the browser's headers nor the
// caller say; ok is false for unknown extensions.
func TypeFromExtension(urlPath string) (t Type, ok bool) {
	if i := strings.IndexAny(urlPath, "?#"); i >= 0 {
		urlPath = urlPath[:i]
	}
	ext := urlPath[strings.LastIndexByte(urlPath, '/')+1:]
	if i := strings.LastIndexByte(ext, '.'); i >= 0 {
		ext = strings.ToLower(ext[i:])
	} else {
		ext = ""
	}
	switch ext {
	case ".gif", ".png", ".jpg", ".jpeg", ".webp", ".avif", ".svg", ".ico", ".bmp":
		return TypeImage, true
	case ".js", ".mjs":
		return TypeScript, true
	case ".css":
		return TypeStylesheet, true
	case ".woff", ".woff2", ".ttf", ".otf", ".eot":
		return TypeFont, true
	case ".mp4", ".webm", ".mp3", ".m4a", ".ogg", ".m3u8":
		return TypeMedia, true
	case ".html", ".htm":
		return TypeSubdocument, true
	}
	return 0, false
}
