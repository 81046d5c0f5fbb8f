package blocklist

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// compileList compiles one Adblock list named "test" and fails the test if
// any line of it is bad.
func compileList(t *testing.T, text string) *Matcher {
	t.Helper()
	m := Compile(Source{Name: "test", Format: FormatAdblock, Text: text})
	if st := m.Lists()[0]; st.BadCount > 0 {
		t.Fatalf("Compile(%q): %d bad lines: %v", text, st.BadCount, st.Bad)
	}
	return m
}

func newReq(t *testing.T, url, source string, typ Type) *Request {
	t.Helper()
	req, err := NewRequest(url, source, typ)
	if err != nil {
		t.Fatalf("NewRequest(%q, %q, %v): %v", url, source, typ, err)
	}
	return req
}

// matchCase is one request against one list. typ 0 means TypeImage. resp is
// checked when set, and always for Pass and Allow (which must have none).
// Decision.Important must be set when the deciding rule is $important.
type matchCase struct {
	rules, url, source string
	typ                Type
	action             Action
	rule               string // the deciding rule's text
	resp               Response
}

func runMatchCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		if c.typ == 0 {
			c.typ = TypeImage
		}
		name := fmt.Sprintf("%s|%s|%s|%v", c.rules, c.url, c.source, c.typ)
		t.Run(name, func(t *testing.T) {
			m := compileList(t, c.rules)
			d := m.Match(newReq(t, c.url, c.source, c.typ))
			if d.Action != c.action || d.Rule != c.rule {
				t.Errorf("Match(%q from %q, %v) = %v by %q, want %v by %q", c.url, c.source, c.typ, d.Action, d.Rule, c.action, c.rule)
			}
			if (c.resp != ResponseNone || c.action != Block) && d.Response != c.resp {
				t.Errorf("Match(%q, %v).Response = %v, want %v", c.url, c.typ, d.Response, c.resp)
			}
			if (d.List == "test") != (d.Action != Pass) {
				t.Errorf("Match(%q) = %v from list %q, want list \"test\" unless pass", c.url, d.Action, d.List)
			}
			if want := c.action == Block && strings.Contains(c.rule, "important"); d.Important != want {
				t.Errorf("Match(%q).Important = %v, want %v", c.url, d.Important, want)
			}
		})
	}
}

func TestMatchPatterns(t *testing.T) {
	runMatchCases(t, []matchCase{
		{rules: "ad-banner", url: "http://example.com/ad-banner.gif", action: Block, rule: "ad-banner"},
		{rules: "ad-banner", url: "http://example.com/AD-Banner.gif", action: Block, rule: "ad-banner"},
		{rules: "ad-banner", url: "http://example.com/banner.gif", action: Pass},
		{rules: "|http://example.com", url: "http://example.com/x", action: Block, rule: "|http://example.com"},
		{rules: "|http://example.com", url: "https://example.com/x", action: Pass},
		{rules: "|http://example.com", url: "http://x.com/?u=http://example.com", action: Pass},
		// || as a host set entry, and host-keyed with options.
		{rules: "||example.com^", url: "https://example.com/", action: Block, rule: "||example.com^"},
		{rules: "||example.com^", url: "https://sub.example.com/a", action: Block, rule: "||example.com^"},
		{rules: "||example.com^", url: "https://notexample.com/", action: Pass},
		{rules: "||example.com^", url: "https://example.com.evil.net/", action: Pass},
		{rules: "||example.com^", url: "https://other.com/?u=https://example.com/", action: Pass},
		{rules: "||example.com^$image", url: "https://a.b.example.com:8080/x", action: Block, rule: "||example.com^$image"},
		{rules: "||example.com^$image", url: "https://notexample.com/", action: Pass},
		{rules: "||ample.com^", url: "https://example.com/", action: Pass},
		{rules: "||ample.com^$image", url: "https://example.com/", action: Pass},
		{rules: "||ample.com^", url: "https://www.ample.com/", action: Block, rule: "||ample.com^"},
		// A partial host after || matches at any label start.
		{rules: "||ads", url: "https://adserver.com/x", action: Block, rule: "||ads"},
		{rules: "||ads", url: "https://www.ads.net/", action: Block, rule: "||ads"},
		{rules: "||ads", url: "https://bads.com/", action: Pass},
		{rules: "||ads", url: "https://x.com/ads", action: Pass},
		{rules: "||example.com/ads", url: "https://www.example.com/ads/1.gif", action: Block, rule: "||example.com/ads"},
		{rules: "||example.com/ads", url: "https://other.com/example.com/ads", action: Pass},
		{rules: "||example.com|", url: "https://example.com", action: Block, rule: "||example.com|"},
		{rules: "||example.com|", url: "https://example.com/", action: Pass},
		{rules: ".gif|", url: "http://x.com/a.gif", action: Block, rule: ".gif|"},
		{rules: ".gif|", url: "http://x.com/a.gif?x=1", action: Pass},
		{rules: "/ads/*/banner", url: "http://x.com/ads/123/banner.png", action: Block, rule: "/ads/*/banner"},
		{rules: "/ads/*/banner", url: "http://x.com/ads/banner", action: Pass},
		{rules: "/ad*", url: "http://x.com/adv", action: Block, rule: "/ad*"},
		// ^ is a separator or the end, not a letter, digit or _-.%.
		{rules: "example.com^", url: "https://example.com:8080/", action: Block, rule: "example.com^"},
		{rules: "example.com^", url: "https://example.com", action: Block, rule: "example.com^"},
		{rules: "example.com^", url: "https://example.com.au/", action: Pass},
		{rules: "/ad^", url: "http://x.com/ad/x", action: Block, rule: "/ad^"},
		{rules: "/ad^", url: "http://x.com/ad?x", action: Block, rule: "/ad^"},
		{rules: "/ad^", url: "http://x.com/ad", action: Block, rule: "/ad^"},
		{rules: "/ad^", url: "http://x.com/ad=1", action: Block, rule: "/ad^"},
		{rules: "/ad^", url: "http://x.com/adx", action: Pass},
		{rules: "/ad^", url: "http://x.com/ad1", action: Pass},
		{rules: "/ad^", url: "http://x.com/ad_x", action: Pass},
		{rules: "/ad^", url: "http://x.com/ad-x", action: Pass},
		{rules: "/ad^", url: "http://x.com/ad.x", action: Pass},
		{rules: "/ad^", url: "http://x.com/ad%20", action: Pass},
		{rules: "^ad^img^", url: "http://x.com/ad/img?", action: Block, rule: "^ad^img^"},
		// Regex rules ignore case unless match-case.
		{rules: `/banner[0-9]+\.gif/`, url: "http://x.com/BANNER12.gif", action: Block, rule: `/banner[0-9]+\.gif/`},
		{rules: `/banner[0-9]+\.gif/`, url: "http://x.com/banner.gif", action: Pass},
		{rules: `/banner[0-9]+\.gif/$match-case`, url: "http://x.com/BANNER12.gif", action: Pass},
		{rules: `/banner[0-9]+\.gif/$match-case`, url: "http://x.com/banner12.gif", action: Block, rule: `/banner[0-9]+\.gif/$match-case`},
		{rules: `/^https?:\/\/[a-z]+\.com\/track/`, url: "https://abc.com/track?x", action: Block, rule: `/^https?:\/\/[a-z]+\.com\/track/`},
		{rules: "Banner.gif$match-case", url: "http://x.com/Banner.gif", action: Block, rule: "Banner.gif$match-case"},
		{rules: "Banner.gif$match-case", url: "http://x.com/banner.gif", action: Pass},
		{rules: "||Example.COM/Ads", url: "https://EXAMPLE.com/ADS", action: Block, rule: "||Example.COM/Ads"},
		{rules: "||Example.COM^", url: "https://EXAMPLE.com/", action: Block, rule: "||Example.COM^"},
		// A rule must match its own text, whatever else it holds.
		{rules: "/Ärger-x", url: "http://x.com/Ärger-x", action: Block, rule: "/Ärger-x"},
		{rules: "/Ärger-X", url: "http://x.com/Ärger-X", action: Block, rule: "/Ärger-X"},
	})
}

func TestMatchTypes(t *testing.T) {
	opts := []struct {
		opt       string
		typ, miss Type
	}{
		{"image", TypeImage, TypeScript}, {"script", TypeScript, TypeImage},
		{"stylesheet", TypeStylesheet, TypeImage}, {"css", TypeStylesheet, TypeImage},
		{"xmlhttprequest", TypeXMLHTTPRequest, TypeImage}, {"xhr", TypeXMLHTTPRequest, TypeImage},
		{"subdocument", TypeSubdocument, TypeImage}, {"frame", TypeSubdocument, TypeDocument},
		{"document", TypeDocument, TypeSubdocument}, {"doc", TypeDocument, TypeImage},
		{"font", TypeFont, TypeImage}, {"media", TypeMedia, TypeImage},
		{"websocket", TypeWebSocket, TypeXMLHTTPRequest}, {"ping", TypePing, TypeImage},
		{"beacon", TypePing, TypeXMLHTTPRequest}, {"other", TypeOther, TypeImage},
		{"object", TypeObject, TypeImage}, {"object-subrequest", TypeObject, TypeMedia},
	}
	var cases []matchCase
	const u = "https://t.com/x"
	for _, o := range opts {
		pos, neg := "||t.com/x$"+o.opt, "||t.com/x$~"+o.opt
		cases = append(cases,
			matchCase{rules: pos, url: u, typ: o.typ, action: Block, rule: pos},
			matchCase{rules: pos, url: u, typ: o.miss, action: Pass},
			matchCase{rules: neg, url: u, typ: o.typ, action: Pass})
		if o.miss != TypeDocument {
			cases = append(cases, matchCase{rules: neg, url: u, typ: o.miss, action: Block, rule: neg})
		}
	}
	cases = append(cases, []matchCase{
		// No type option: every type but document, except pure ||host^.
		{rules: "||t.com/x", url: u, typ: TypeDocument, action: Pass},
		{rules: "||t.com/x", url: u, typ: TypeSubdocument, action: Block, rule: "||t.com/x"},
		{rules: "/x", url: u, typ: TypeDocument, action: Pass},
		{rules: "||t.com^$third-party", url: u, typ: TypeScript, action: Block, rule: "||t.com^$third-party"},
		{rules: "||t.com^", url: u, typ: TypeDocument, action: Block, rule: "||t.com^", resp: ResponseBlockPage},
		{rules: "||t.com^$all", url: u, typ: TypeDocument, action: Block, rule: "||t.com^$all", resp: ResponseBlockPage},
		{rules: "||t.com^$all", url: u, typ: TypeFont, action: Block, rule: "||t.com^$all"},
		{rules: "||t.com/x$document", url: u, typ: TypeDocument, action: Block, rule: "||t.com/x$document", resp: ResponseBlockPage},
		{rules: "||t.com/x$image,script", url: u, typ: TypeScript, action: Block, rule: "||t.com/x$image,script"},
		{rules: "||t.com/x$image,script", url: u, typ: TypeFont, action: Pass},
		{rules: "||t.com/x$~image,~script", url: u, typ: TypeFont, action: Block, rule: "||t.com/x$~image,~script"},
	}...)
	runMatchCases(t, cases)
}

func TestMatchParty(t *testing.T) {
	const u = "https://t.com/x"
	runMatchCases(t, []matchCase{
		{rules: "||t.com/x$third-party", url: u, source: "https://site.com/", action: Block, rule: "||t.com/x$third-party"},
		{rules: "||t.com/x$third-party", url: u, source: "https://t.com/", action: Pass},
		{rules: "||t.com/x$third-party", url: u, source: "https://www.t.com/", action: Pass},
		{rules: "||t.com/x$third-party", url: u, source: "", action: Block, rule: "||t.com/x$third-party"},
		{rules: "||t.com/x$third-party", url: u, source: "about:blank", action: Block, rule: "||t.com/x$third-party"},
		{rules: "||t.com/x$3p", url: u, source: "https://site.com/", action: Block, rule: "||t.com/x$3p"},
		{rules: "||t.com/x$first-party", url: u, source: "https://t.com/", action: Block, rule: "||t.com/x$first-party"},
		{rules: "||t.com/x$first-party", url: u, source: "https://site.com/", action: Pass},
		{rules: "||t.com/x$first-party", url: u, source: "", action: Pass},
		{rules: "||t.com/x$1p", url: u, source: "https://www.t.com/", action: Block, rule: "||t.com/x$1p"},
		{rules: "||t.com/x$~third-party", url: u, source: "https://www.t.com/", action: Block, rule: "||t.com/x$~third-party"},
		{rules: "||t.com/x$~third-party", url: u, source: "https://site.com/", action: Pass},
		{rules: "||t.com/x$~first-party", url: u, source: "https://site.com/", action: Block, rule: "||t.com/x$~first-party"},
		// Registrable domains, by the public suffix list.
		{rules: "||a.example.co.uk/x$third-party", url: "https://a.example.co.uk/x", source: "https://b.example.co.uk/", action: Pass},
		{rules: "||a.example.co.uk/x$third-party", url: "https://a.example.co.uk/x", source: "https://other.co.uk/", action: Block, rule: "||a.example.co.uk/x$third-party"},
		{rules: "||a.example.co.uk/x$1p", url: "https://a.example.co.uk/x", source: "https://b.example.co.uk/", action: Block, rule: "||a.example.co.uk/x$1p"},
		{rules: "/x$3p", url: "http://10.0.0.1/x", source: "http://10.0.0.1/", action: Pass},
		{rules: "/x$3p", url: "http://10.0.0.1/x", source: "http://11.0.0.1/", action: Block, rule: "/x$3p"},
		// Strict: the hostnames themselves.
		{rules: "||example.com/x$strict1p", url: "https://www.example.com/x", source: "https://example.com/", action: Pass},
		{rules: "||example.com/x$strict1p", url: "https://www.example.com/x", source: "https://www.example.com/p", action: Block, rule: "||example.com/x$strict1p"},
		{rules: "||example.com/x$strict3p", url: "https://www.example.com/x", source: "https://example.com/", action: Block, rule: "||example.com/x$strict3p"},
		{rules: "||example.com/x$strict3p", url: "https://www.example.com/x", source: "https://www.example.com/", action: Pass},
	})
}

func TestMatchDomains(t *testing.T) {
	const u = "https://t.com/px"
	var short []string
	for i := range 8 {
		short = append(short, fmt.Sprintf("a%d.com", i))
	}
	long := "||t.com/px$domain=" + strings.Join(short, "|") + "|site.com|google.*"
	longNot := "||t.com/px$domain=~" + strings.Join(short, "|~") + "|~site.com"
	deny := "*$script,denyallow=cdn.com|x.net,domain=site.com"
	denyLong := "*$script,denyallow=" + strings.Join(short, "|") + "|cdn.com,domain=site.com"
	runMatchCases(t, []matchCase{
		{rules: "||t.com/px$domain=site.com", url: u, source: "https://site.com/", action: Block, rule: "||t.com/px$domain=site.com"},
		{rules: "||t.com/px$domain=site.com", url: u, source: "https://www.site.com/", action: Block, rule: "||t.com/px$domain=site.com"},
		{rules: "||t.com/px$domain=site.com", url: u, source: "https://other.com/", action: Pass},
		{rules: "||t.com/px$domain=site.com", url: u, source: "https://notsite.com/", action: Pass},
		{rules: "||t.com/px$domain=site.com", url: u, source: "", action: Pass},
		{rules: "||t.com/px$domain=Site.COM", url: u, source: "https://SITE.com/", action: Block, rule: "||t.com/px$domain=Site.COM"},
		{rules: "||t.com/px$domain=~site.com", url: u, source: "https://site.com/", action: Pass},
		{rules: "||t.com/px$domain=~site.com", url: u, source: "https://other.com/", action: Block, rule: "||t.com/px$domain=~site.com"},
		{rules: "||t.com/px$domain=~site.com", url: u, source: "", action: Block, rule: "||t.com/px$domain=~site.com"},
		{rules: "||t.com/px$domain=site.com|~sub.site.com", url: u, source: "https://a.sub.site.com/", action: Pass},
		{rules: "||t.com/px$domain=site.com|~sub.site.com", url: u, source: "https://www.site.com/", action: Block, rule: "||t.com/px$domain=site.com|~sub.site.com"},
		{rules: "||t.com/px$domain=google.*", url: u, source: "https://www.google.co.uk/", action: Block, rule: "||t.com/px$domain=google.*"},
		{rules: "||t.com/px$domain=google.*", url: u, source: "https://google.com/", action: Block, rule: "||t.com/px$domain=google.*"},
		{rules: "||t.com/px$domain=google.*", url: u, source: "https://mail.google.de/", action: Block, rule: "||t.com/px$domain=google.*"},
		{rules: "||t.com/px$domain=google.*", url: u, source: "https://google.evil.com/", action: Pass},
		{rules: "||t.com/px$domain=google.*", url: u, source: "https://notgoogle.com/", action: Pass},
		{rules: "||t.com/px$domain=~google.*", url: u, source: "https://www.google.fr/", action: Pass},
		{rules: "||t.com/px$domain=~google.*", url: u, source: "https://other.com/", action: Block, rule: "||t.com/px$domain=~google.*"},
		// Long lists are kept as sets.
		{rules: long, url: u, source: "https://www.site.com/", action: Block, rule: long},
		{rules: long, url: u, source: "https://a5.com/", action: Block, rule: long},
		{rules: long, url: u, source: "https://www.google.fr/", action: Block, rule: long},
		{rules: long, url: u, source: "https://google.evil.com/", action: Pass},
		{rules: long, url: u, source: "https://other.com/", action: Pass},
		{rules: long, url: u, source: "https://site.com.other.com/", action: Pass},
		{rules: longNot, url: u, source: "https://sub.site.com/", action: Pass},
		{rules: longNot, url: u, source: "https://other.com/", action: Block, rule: longNot},
		// denyallow: never for those request hosts.
		{rules: deny, url: "https://cdn.com/a.js", source: "https://site.com/", typ: TypeScript, action: Pass},
		{rules: deny, url: "https://sub.cdn.com/a.js", source: "https://site.com/", typ: TypeScript, action: Pass},
		{rules: deny, url: "https://x.net/a.js", source: "https://site.com/", typ: TypeScript, action: Pass},
		{rules: deny, url: "https://evil.com/a.js", source: "https://site.com/", typ: TypeScript, action: Block, rule: deny},
		{rules: deny, url: "https://evil.com/a.js", source: "https://other.com/", typ: TypeScript, action: Pass},
		{rules: denyLong, url: "https://img.cdn.com/a.js", source: "https://site.com/", typ: TypeScript, action: Pass},
		{rules: denyLong, url: "https://a3.com/a.js", source: "https://site.com/", typ: TypeScript, action: Pass},
		{rules: denyLong, url: "https://evil.com/a.js", source: "https://site.com/", typ: TypeScript, action: Block, rule: denyLong},
	})
}

func TestMatchPrecedence(t *testing.T) {
	const doc = "||ads.net^$image\n@@||site.com^$document"
	runMatchCases(t, []matchCase{
		{rules: "||t.com^\n@@||t.com/ok", url: "https://t.com/ok", action: Allow, rule: "@@||t.com/ok"},
		{rules: "||t.com^\n@@||t.com/ok", url: "https://t.com/bad", action: Block, rule: "||t.com^"},
		{rules: "||t.com/ad$image\n@@||t.com/ad$script", url: "https://t.com/ad", action: Block, rule: "||t.com/ad$image"},
		{rules: "0.0.0.0 t.com\n@@||t.com^$image", url: "https://t.com/a.png", action: Allow, rule: "@@||t.com^$image"},
		{rules: "||t.com^$important\n@@||t.com^", url: "https://t.com/", action: Block, rule: "||t.com^$important"},
		{rules: "||ads.net^$important\n@@||site.com^$document", url: "https://ads.net/p.gif", source: "https://site.com/", action: Block, rule: "||ads.net^$important"},
		// badfilter cancels its exact twin only, in any option order.
		{rules: "||t.com^\n||t.com^$badfilter", url: "https://t.com/", action: Pass},
		{rules: "||t.com^$image\n||t.com^$badfilter", url: "https://t.com/", action: Block, rule: "||t.com^$image"},
		{rules: "||t.com^\n||t.com^$image,badfilter", url: "https://t.com/", action: Block, rule: "||t.com^"},
		{rules: "||t.com^$script,image\n||t.com^$image,script,badfilter", url: "https://t.com/", action: Pass},
		{rules: "||t.com^\n@@||t.com/ok\n@@||t.com/ok$badfilter", url: "https://t.com/ok", action: Block, rule: "||t.com^"},
		// Page-level exceptions.
		{rules: doc, url: "https://ads.net/p.gif", source: "https://site.com/page", action: Allow, rule: "@@||site.com^$document"},
		{rules: doc, url: "https://ads.net/p.gif", source: "https://www.site.com/", action: Allow, rule: "@@||site.com^$document"},
		{rules: doc, url: "https://ads.net/p.gif", source: "https://other.com/", action: Block, rule: "||ads.net^$image"},
		{rules: doc, url: "https://ads.net/p.gif", source: "", action: Block, rule: "||ads.net^$image"},
		{rules: "||ads.net^\n@@||site.com^$document", url: "https://ads.net/x.js", source: "https://site.com/", typ: TypeScript, action: Allow, rule: "@@||site.com^$document"},
		{rules: "||site.com^$image\n@@||site.com^$document", url: "https://site.com/a.png", source: "https://other.com/", action: Block, rule: "||site.com^$image"},
		// … and the page itself, wherever the navigation comes from.
		{rules: "||site.com^\n@@||site.com^$document", url: "https://site.com/", typ: TypeDocument, action: Allow, rule: "@@||site.com^$document"},
		{rules: "||site.com^\n@@||site.com^$document", url: "https://site.com/", source: "https://other.com/", typ: TypeDocument, action: Allow, rule: "@@||site.com^$document"},
		// Redirects choose the response.
		{rules: "||t.com/p.gif$image,redirect=1x1.gif", url: "https://t.com/p.gif", action: Block, rule: "||t.com/p.gif$image,redirect=1x1.gif", resp: ResponseGIF},
		{rules: "||t.com/a.js$redirect=noopjs", url: "https://t.com/a.js", typ: TypeScript, action: Block, rule: "||t.com/a.js$redirect=noopjs", resp: ResponseEmptyJS},
		{rules: "||t.com/a.js$redirect=noopjs:100", url: "https://t.com/a.js", typ: TypeImage, action: Block, rule: "||t.com/a.js$redirect=noopjs:100", resp: ResponseEmptyJS},
		{rules: "||t.com/a$redirect=nooptext", url: "https://t.com/a", typ: TypeXMLHTTPRequest, action: Block, rule: "||t.com/a$redirect=nooptext", resp: ResponseEmptyText},
		{rules: "||t.com/a$redirect=noopcss", url: "https://t.com/a", typ: TypeStylesheet, action: Block, rule: "||t.com/a$redirect=noopcss", resp: ResponseEmptyCSS},
		{rules: "||t.com/a$redirect=noopframe", url: "https://t.com/a", typ: TypeSubdocument, action: Block, rule: "||t.com/a$redirect=noopframe", resp: ResponseEmptyHTML},
		{rules: "||t.com/a$redirect=noopmp4-1s", url: "https://t.com/a", typ: TypeMedia, action: Block, rule: "||t.com/a$redirect=noopmp4-1s", resp: ResponseEmptyMedia},
		{rules: "||t.com/a$redirect=google-analytics_ga.js", url: "https://t.com/a", typ: TypeScript, action: Block, rule: "||t.com/a$redirect=google-analytics_ga.js", resp: ResponseGoogleAnalyticsLegacy},
		{rules: "||t.com/a$redirect=scorecardresearch_beacon.js", url: "https://t.com/a", typ: TypeScript, action: Block, rule: "||t.com/a$redirect=scorecardresearch_beacon.js", resp: ResponseEmptyJS},
		{rules: "||t.com/a$empty", url: "https://t.com/a", typ: TypeXMLHTTPRequest, action: Block, rule: "||t.com/a$empty", resp: ResponseEmptyText},
		{rules: "||t.com^$important,redirect=1x1.gif\n@@||t.com^", url: "https://t.com/p", action: Block, rule: "||t.com^$important,redirect=1x1.gif", resp: ResponseGIF},
		// redirect-rule only chooses the response of another rule's block.
		{rules: "||t.com/a.js$script,redirect-rule=noopjs", url: "https://t.com/a.js", typ: TypeScript, action: Pass},
		{rules: "||t.com/a.js$script,redirect-rule=noopjs\n||t.com^", url: "https://t.com/a.js", typ: TypeScript, action: Block, rule: "||t.com^", resp: ResponseEmptyJS},
		{rules: "||t.com/a.js$script,redirect-rule=noopjs\n||t.com/a$script", url: "https://t.com/a.js", typ: TypeScript, action: Block, rule: "||t.com/a$script", resp: ResponseEmptyJS},
		{rules: "||t.com/a.js$xhr,redirect-rule=noopjs\n||t.com^", url: "https://t.com/a.js", typ: TypeXMLHTTPRequest, action: Block, rule: "||t.com^", resp: ResponseEmptyJS},
		{rules: "||t.com/a.js$script,redirect-rule=noopjs\n||t.com^", url: "https://t.com/a.js", typ: TypeImage, action: Block, rule: "||t.com^", resp: ResponseGIF},
		// Default responses by type.
		{rules: "||t.com^", url: "https://t.com/", typ: TypeImage, action: Block, rule: "||t.com^", resp: ResponseGIF},
		{rules: "||t.com^", url: "https://t.com/", typ: TypeScript, action: Block, rule: "||t.com^", resp: ResponseEmptyJS},
		{rules: "||t.com^", url: "https://t.com/", typ: TypeStylesheet, action: Block, rule: "||t.com^", resp: ResponseEmptyCSS},
		{rules: "||t.com^", url: "https://t.com/", typ: TypeXMLHTTPRequest, action: Block, rule: "||t.com^", resp: ResponseNoContent},
		{rules: "||t.com^", url: "https://t.com/", typ: TypePing, action: Block, rule: "||t.com^", resp: ResponseNoContent},
		{rules: "||t.com^", url: "https://t.com/", typ: TypeSubdocument, action: Block, rule: "||t.com^", resp: ResponseEmptyHTML},
		{rules: "||t.com^", url: "https://t.com/", typ: TypeDocument, action: Block, rule: "||t.com^", resp: ResponseBlockPage},
		{rules: "||t.com^", url: "https://t.com/", typ: TypeMedia, action: Block, rule: "||t.com^", resp: ResponseEmptyMedia},
		{rules: "/x$script", url: "https://t.com/x", typ: TypeScript, action: Block, rule: "/x$script", resp: ResponseEmptyJS},
		{rules: "/x$ping", url: "https://t.com/x", typ: TypePing, action: Block, rule: "/x$ping", resp: ResponseNoContent},
	})
}

// TestMatchHostPort: option-less "||host:port^" rules. They once went to
// the host set, which is looked up by hostname without port, and never
// matched. By Adblock syntax the pattern is matched against the URL text,
// ports and IPv6 brackets included.
func TestMatchHostPort(t *testing.T) {
	runMatchCases(t, []matchCase{
		{rules: "||t.com:8080^", url: "https://t.com:8080/", action: Block, rule: "||t.com:8080^"},
		{rules: "||1.2.3.4:80^", url: "http://1.2.3.4:80/", action: Block, rule: "||1.2.3.4:80^"},
		{rules: "||[::1]^", url: "http://[::1]/x", action: Block, rule: "||[::1]^"},
		{rules: "||t.com:8080^$image", url: "https://t.com:8080/", action: Block, rule: "||t.com:8080^$image"},
		{rules: "||t.com:8080^", url: "https://t.com/", action: Pass},
	})
}

// TestMatchRedirectException: "@@…$redirect=name" cancels the redirect,
// not the block (uBO since 1.31: redirect= filters "can be excepted using
// @@", as redirect-rule directives; AdGuard: "@@||example.org^$redirect
// negates all $redirect rules"). It once allowed the request.
func TestMatchRedirectException(t *testing.T) {
	runMatchCases(t, []matchCase{
		{rules: "||t.com/a.js$script\n@@||t.com/a.js$redirect=noopjs", url: "https://t.com/a.js", typ: TypeScript,
			action: Block, rule: "||t.com/a.js$script", resp: ResponseEmptyJS},
		{rules: "||t.com/a$image,redirect=noopjs\n@@||t.com/a$redirect=noopjs", url: "https://t.com/a", typ: TypeImage,
			action: Block, rule: "||t.com/a$image,redirect=noopjs", resp: ResponseGIF},
	})
}

// TestBadFilterAcrossLists: $badfilter works across lists, and a hosts-file
// entry is the same filter as ||host^ (uBO reads "0.0.0.0 host" as
// "||host^"), so "||host^$badfilter" cancels it too.
func TestBadFilterAcrossLists(t *testing.T) {
	cases := []struct {
		name string
		srcs []Source
	}{
		{"adblock", []Source{{Name: "a", Text: "||t.com^\n||u.com^"}, {Name: "b", Format: FormatAdblock, Text: "||t.com^$badfilter"}}},
		{"hosts", []Source{{Name: "a", Format: FormatHosts, Text: "0.0.0.0 t.com\n0.0.0.0 u.com"}, {Name: "b", Format: FormatAdblock, Text: "||t.com^$badfilter"}}},
		{"domains", []Source{{Name: "a", Format: FormatDomains, Text: "t.com\nu.com"}, {Name: "b", Format: FormatAdblock, Text: "||t.com^$badfilter"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := Compile(c.srcs...)
			if d := m.Match(newReq(t, "https://t.com/", "", TypeImage)); d.Action != Pass {
				t.Errorf("Match(https://t.com/) = %v by %q, want pass", d.Action, d.Rule)
			}
			if d := m.Match(newReq(t, "https://u.com/", "", TypeImage)); d.Action != Block || d.List != "a" {
				t.Errorf("Match(https://u.com/) = %v by %q from %q, want block from a", d.Action, d.Rule, d.List)
			}
		})
	}
}

func TestHostsAndDomainsLists(t *testing.T) {
	hosts := "# hosts\n127.0.0.1 localhost\n255.255.255.255 broadcasthost\n::1 localhost ip6-localhost\n" +
		"0.0.0.0 tracker.com\n0.0.0.0 a.com b.com # two names\n127.0.0.1\tTabbed.Example.NET   # upper case\n" +
		"0.0.0.0 0.0.0.0\n"
	domains := "! a domains list\ntracker.com\n*.wild.com\n||agh.com^\nnamed.org # comment\n"
	cases := []struct {
		name, text string
		src, want  Format // the source's format (maybe auto) and the one detected
		blocked    []string
		passed     []string
	}{
		{"hosts", hosts, FormatAuto, FormatHosts,
			[]string{"tracker.com", "sub.tracker.com", "a.com", "b.com", "tabbed.example.net"},
			[]string{"localhost", "broadcasthost", "ip6-localhost", "two", "names", "comment", "nottracker.com", "0.0.0.0"}},
		{"domains", domains, FormatDomains, FormatDomains,
			[]string{"tracker.com", "x.tracker.com", "wild.com", "a.wild.com", "agh.com", "named.org"},
			[]string{"comment", "other.org"}},
		{"domains auto", "tracker.com\n*.wild.com\nnamed.org # comment\n", FormatAuto, FormatDomains,
			[]string{"tracker.com", "a.wild.com", "named.org"}, []string{"comment", "other.org"}},
		{"adblock with hosts lines", "||ads.com^\n0.0.0.0 tracker.com\n", FormatAuto, FormatAdblock,
			[]string{"ads.com", "tracker.com"}, []string{"other.org"}},
		{"adblock header", "[Adblock Plus 2.0]\na.com\nb.com\n", FormatAuto, FormatAdblock, nil, []string{"a.com"}},
		{"adblock mostly names", "a.com\nb.com\n/ads/\n", FormatAuto, FormatAdblock, nil, []string{"a.com"}},
		{"empty", "", FormatAuto, FormatAdblock, nil, []string{"a.com"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := Compile(Source{Name: c.name, Format: c.src, Text: c.text})
			st := m.Lists()[0]
			if st.Format != c.want {
				t.Errorf("format %v, want %v", st.Format, c.want)
			}
			if st.BadCount != 0 {
				t.Errorf("BadCount = %d, want 0: %v", st.BadCount, st.Bad)
			}
			for _, h := range c.blocked {
				if d := m.Match(newReq(t, "https://"+h+"/p", "", TypeImage)); d.Action != Block || d.List != c.name {
					t.Errorf("Match(%q) = %v from %q, want block from %q", h, d.Action, d.List, c.name)
				}
				if d := m.MatchHost(h); d.Action != Block {
					t.Errorf("MatchHost(%q) = %v, want block", h, d.Action)
				}
			}
			for _, h := range c.passed {
				if d := m.MatchHost(h); d.Action != Pass {
					t.Errorf("MatchHost(%q) = %v by %q, want pass", h, d.Action, d.Rule)
				}
			}
		})
	}
}

func TestBadLines(t *testing.T) {
	cases := []struct {
		name   string
		src    Source
		lines  []int  // 1-based numbers of the bad lines
		blocks string // a host still blocked
	}{
		{"adblock", Source{Format: FormatAdblock, Text: "||a.com^\n||b.com^$image,bogus\n! c\n/(/\r\n||c.com^\n"},
			[]int{2, 4}, "c.com"},
		{"hosts", Source{Format: FormatHosts, Text: "0.0.0.0 good.com\nnot-an-ip bad.com\n\n0.0.0.0 bad!host\n0.0.0.0\n0.0.0.0 also-good.com\n"},
			[]int{2, 4, 5}, "also-good.com"},
		{"domains", Source{Format: FormatDomains, Text: "a.com\nb.com c.com\nbad!name\nd.com\n"},
			[]int{2, 3}, "d.com"},
		// A rule whose type options cancel out is bad on its own line.
		{"no types", Source{Format: FormatAdblock, Text: "! x\n||x.com/a$image,~image\n||e.com^\n"}, []int{2}, "e.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.src.Name = c.name
			m := Compile(c.src)
			st := m.Lists()[0]
			if st.BadCount != len(c.lines) || len(st.Bad) != len(c.lines) {
				t.Fatalf("BadCount = %d, Bad = %v; want %d bad lines %v", st.BadCount, st.Bad, len(c.lines), c.lines)
			}
			for i, n := range c.lines {
				if st.Bad[i].Line != n {
					t.Errorf("Bad[%d] = %v, want line %d", i, st.Bad[i], n)
				}
			}
			if d := m.MatchHost(c.blocks); d.Action != Block {
				t.Errorf("MatchHost(%q) = %v, want block (the rest of the list loads)", c.blocks, d.Action)
			}
		})
	}
}

func TestMatchHost(t *testing.T) {
	m := Compile(
		Source{Name: "hosts", Format: FormatHosts, Text: "0.0.0.0 tracker.com\n0.0.0.0 allowed.com a.com b.com\n"},
		Source{Name: "domains", Format: FormatDomains, Text: "||agh.com^\n*.wild.com\n"},
		Source{Name: "abp", Format: FormatAdblock, Text: "||ads.com^\n||img.com^$image\n||tp.com^$third-party\n" +
			"||dom.com^$domain=a.com\n||path.com/x\n||imp.com^$important\n@@||imp.com^\n@@||allowed.com^\n" +
			"||ok.com^\n@@||sub.ok.com^\n||rx.com^$~image\n/re\\.com/\n||nav.com^$~document\n"},
	)
	cases := []struct {
		host   string
		action Action
		rule   string
	}{
		{"tracker.com", Block, "tracker.com"}, {"sub.tracker.com", Block, "tracker.com"},
		{"TRACKER.COM.", Block, "tracker.com"}, {"nottracker.com", Pass, ""},
		{"x.b.com", Block, "b.com"}, {"agh.com", Block, "||agh.com^"}, {"a.wild.com", Block, "*.wild.com"},
		{"x.ads.com", Block, "||ads.com^"}, {"Ads.COM.", Block, "||ads.com^"},
		// Rules that depend on the type, the page or the path do not apply.
		{"img.com", Pass, ""}, {"tp.com", Pass, ""}, {"dom.com", Pass, ""},
		{"path.com", Pass, ""}, {"rx.com", Pass, ""}, {"re.com", Pass, ""},
		// A rule that spares navigations leaves the host to them: its
		// links must resolve and connect.
		{"nav.com", Pass, ""}, {"x.nav.com", Pass, ""},
		{"imp.com", Block, "||imp.com^$important"}, {"allowed.com", Allow, "@@||allowed.com^"},
		{"ok.com", Block, "||ok.com^"}, {"sub.ok.com", Allow, "@@||sub.ok.com^"}, {"a.sub.ok.com", Allow, "@@||sub.ok.com^"},
		{"", Pass, ""},
	}
	for _, c := range cases {
		if d := m.MatchHost(c.host); d.Action != c.action || d.Rule != c.rule {
			t.Errorf("MatchHost(%q) = %v by %q, want %v by %q", c.host, d.Action, d.Rule, c.action, c.rule)
		}
	}
	// It still blocks everything on the host but navigations.
	for _, c := range []struct {
		url string
		typ Type
		act Action
	}{
		{"https://nav.com/pixel/1", TypeImage, Block}, {"https://x.nav.com:8443/", TypeXMLHTTPRequest, Block},
		{"https://nav.com/r/ad?url=https%3A%2F%2Fshop.example%2F", TypeDocument, Pass},
	} {
		if d := m.Match(newReq(t, c.url, "", c.typ)); d.Action != c.act {
			t.Errorf("Match(%s, %v) = %v, want %v", c.url, c.typ, d.Action, c.act)
		}
	}
}

func TestCleanDefaults(t *testing.T) {
	m := Compile(Defaults()...)
	cases := []struct {
		url, want string
		removed   []string
	}{
		{"https://shop.example/p?id=1&utm_source=nl&fbclid=abc&color=red&gclid=x#top",
			"https://shop.example/p?id=1&color=red#top", []string{"utm_source", "fbclid", "gclid"}},
		{"https://e.com/?utm_source=a&utm_medium=b&utm_campaign=c", "https://e.com/", []string{"utm_source", "utm_medium", "utm_campaign"}},
		{"https://e.com/p?fbclid=1#frag", "https://e.com/p#frag", []string{"fbclid"}},
		{"https://e.com/p?fbclid=1&fbclid=2&a=b", "https://e.com/p?a=b", []string{"fbclid"}},
		{"https://e.com/p?fbclid&x=1", "https://e.com/p?x=1", []string{"fbclid"}},
		{"https://e.com/p?a=1&msclkid=2&b=3&mc_eid=4&c", "https://e.com/p?a=1&b=3&c", []string{"msclkid", "mc_eid"}},
		{"https://e.com/?UTM_SOURCE=a&FBCLID=b&Gclid=c", "https://e.com/?UTM_SOURCE=a&FBCLID=b&Gclid=c", nil},
		{"https://e.com/?xutm_source=a&fbclid_x=b", "https://e.com/?xutm_source=a&fbclid_x=b", nil},
		{"https://e.com/p", "https://e.com/p", nil},
		{"https://e.com/p#a?fbclid=1", "https://e.com/p#a?fbclid=1", nil},
		{"https://www.youtube.com/watch?v=abc&si=xyz", "https://www.youtube.com/watch?v=abc", []string{"si"}},
		{"https://other.com/watch?v=abc&si=xyz", "https://other.com/watch?v=abc&si=xyz", nil},
	}
	for _, c := range cases {
		got, removed := m.Clean(newReq(t, c.url, "", TypeDocument))
		if got != c.want || !slices.Equal(removed, c.removed) {
			t.Errorf("Clean(%q) = %q, %q; want %q, %q", c.url, got, removed, c.want, c.removed)
		}
	}
}

func TestCleanRules(t *testing.T) {
	m := Compile(append(Defaults(), Source{Name: "test", Format: FormatAdblock, Text: "||shop.com^$removeparam=ref\n" +
		"||inv.com^$removeparam=~keep\n$removeparam=/^ref_/\n$removeparam=/^(aff|src)=/\n$removeparam=/^trk/i\n" +
		"||allgone.com^$removeparam\n@@||keep.com^$removeparam=fbclid\n@@||keepall.com^$removeparam\n" +
		"$queryprune=qp\n@@||shop.com/raw$removeparam=ref\n"})...)
	cases := []struct {
		url, want string
		removed   []string
	}{
		{"https://shop.com/x?ref=1&q=2", "https://shop.com/x?q=2", []string{"ref"}},
		{"https://shop.com/raw?ref=1&q=2", "https://shop.com/raw?ref=1&q=2", nil},
		{"https://other.com/x?ref=1&q=2", "https://other.com/x?ref=1&q=2", nil},
		{"https://inv.com/x?a=1&keep=2&b=3#f", "https://inv.com/x?keep=2#f", []string{"a", "b"}},
		{"https://e.com/?ref_a=1&reference=2&ref_b=3", "https://e.com/?reference=2", []string{"ref_a", "ref_b"}},
		{"https://e.com/?aff=1&affx=2&src=3&q=src", "https://e.com/?affx=2&q=src", []string{"aff", "src"}},
		{"https://e.com/?TRK_x=1&trk=2&atrk=3", "https://e.com/?atrk=3", []string{"TRK_x", "trk"}},
		{"https://allgone.com/p?a=1&b=2#f", "https://allgone.com/p#f", []string{"a", "b"}},
		{"https://keep.com/?fbclid=1&utm_source=2", "https://keep.com/?fbclid=1", []string{"utm_source"}},
		{"https://keepall.com/?fbclid=1&utm_source=2&ref_a=3", "https://keepall.com/?fbclid=1&utm_source=2&ref_a=3", nil},
		{"https://e.com/?qp=1&q=2", "https://e.com/?q=2", []string{"qp"}},
	}
	for _, c := range cases {
		got, removed := m.Clean(newReq(t, c.url, "", TypeDocument))
		if got != c.want || !slices.Equal(removed, c.removed) {
			t.Errorf("Clean(%q) = %q, %q; want %q, %q", c.url, got, removed, c.want, c.removed)
		}
	}
}

// TestMatchNoAlloc: a request no rule matches costs no allocation. Not
// under -race, where sync.Pool (regexp's machine cache) drops items at
// random.
func TestMatchNoAlloc(t *testing.T) {
	if bi, ok := debug.ReadBuildInfo(); ok && slices.Contains(bi.Settings, debug.BuildSetting{Key: "-race", Value: "true"}) {
		t.Skip("allocation counts are not meaningful under -race")
	}
	var b strings.Builder
	for i := range 60 {
		fmt.Fprintf(&b, "||host%d.com^\n||cdn%d.net/path%d/\n/banner%d/*.gif$image\nad%d.js$script,domain=s%d.com|~x%d.s%d.com\n", i, i, i, i, i, i, i, i)
		fmt.Fprintf(&b, "/track%d[0-9]+/\n@@||cdn%d.net/path%d/ok\n||p%d.org^$third-party,image\n", i, i, i, i)
	}
	b.WriteString("@@||example.org^$document\n||example.org/ads^$important\n$removeparam=utm_source\n")
	m := compileList(t, b.String())
	if n := m.Lists()[0].Rules(); n < 400 {
		t.Fatalf("compiled %d rules, want ≥ 400", n)
	}
	req := newReq(t, "https://www.example.org/news/index.html?q=track&page=2", "https://www.example.org/", TypeImage)
	if d := m.Match(req); d.Action != Pass {
		t.Fatalf("Match(%q) = %v by %q, want pass", req.URL, d.Action, d.Rule)
	}
	if n := testing.AllocsPerRun(200, func() { m.Match(req) }); n != 0 {
		t.Errorf("Match(%q) allocates %v times, want 0", req.URL, n)
	}
}
