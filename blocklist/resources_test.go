package blocklist

import (
	"strings"
	"testing"
)

// TestRedirectNamesToStandIns: uBO's and AdGuard's resource names for the
// tag scripts give our stand-ins; other script names the generic no-op.
func TestRedirectNamesToStandIns(t *testing.T) {
	cases := []struct {
		name string
		want Response
	}{
		{"google-analytics_analytics.js", ResponseGoogleAnalytics},
		{"google-analytics_analytics.js:5", ResponseGoogleAnalytics},
		{"google-analytics.com/analytics.js", ResponseGoogleAnalytics},
		{"google-analytics", ResponseGoogleAnalytics},
		{"ubo-google-analytics_analytics.js", ResponseGoogleAnalytics},
		{"googletagmanager_gtm.js", ResponseTagManager},
		{"googletagmanager_gtm.js:5", ResponseTagManager},
		{"googletagmanager.com/gtm.js", ResponseTagManager},
		{"googletagmanager-gtm", ResponseTagManager},
		{"ubo-googletagmanager_gtm.js", ResponseTagManager},
		{"googletagmanager_gtag.js", ResponseGoogleTag},
		{"facebook_fbevents.js", ResponseMetaPixel},
		{"fb-events", ResponseMetaPixel},
		{"bing_bat.js", ResponseMicrosoftUET},
		{"segment_analytics.js", ResponseSegment},
		{"plausible.js", ResponsePlausible},
		{"fathom.js:5", ResponseFathom},
		{"noopjs", ResponseEmptyJS},
		{"google-analytics_ga.js", ResponseGoogleAnalyticsLegacy},
		{"google-analytics-ga", ResponseGoogleAnalyticsLegacy},
		{"scorecardresearch_beacon.js", ResponseEmptyJS},
		{"fuckadblock.js-3.2.0", ResponseEmptyJS},
	}
	for _, c := range cases {
		if got, ok := redirectResponse(c.name); !ok || got != c.want {
			t.Errorf("redirectResponse(%q) = %v, %v; want %v", c.name, got, ok, c.want)
		}
	}
	if got, ok := redirectResponse("no-such-resource"); ok {
		t.Errorf("redirectResponse(unknown) = %v, want not ok", got)
	}
}

// TestStandInScripts: every script response has a body; the stand-ins
// implement the API their pages call and contact nothing.
func TestStandInScripts(t *testing.T) {
	cases := []struct {
		r    Response
		name string
		api  []string // what the page relies on
	}{
		{ResponseEmptyJS, "empty-js", nil},
		{ResponseGoogleAnalytics, "stand-in-analytics.js", []string{"GoogleAnalyticsObject", "hitCallback", "getAll", "getByName", "create", ".q"}},
		{ResponseGoogleTag, "stand-in-gtag.js", []string{"event_callback", "dataLayer", "gtag"}},
		{ResponseTagManager, "stand-in-gtm.js", []string{"eventCallback", "hide", "async-hide", "google_tag_manager"}},
		{ResponseMetaPixel, "stand-in-fbevents.js", []string{"callMethod", "queue", "loaded", "version", "push"}},
		{ResponseMicrosoftUET, "stand-in-bat.js", []string{"UET", "push"}},
		{ResponseSegment, "stand-in-segment.js", []string{"data-global-segment-analytics-key", "ready", "user", "track", "identify", "trackLink"}},
		{ResponsePlausible, "stand-in-plausible.js", []string{"callback", ".q"}},
		{ResponseFathom, "stand-in-fathom.js", []string{"trackEvent", "trackGoal", "trackPageview"}},
		{ResponseGoogleAnalyticsLegacy, "stand-in-ga.js", []string{"_gaq", "_gat", "_getTracker", "_trackPageview", "hitCallback", "_link"}},
	}
	for _, c := range cases {
		body, ok := c.r.Script()
		if !ok || len(body) == 0 {
			t.Errorf("%v.Script() = %d bytes, %v; want a body", c.r, len(body), ok)
			continue
		}
		if c.r.String() != c.name {
			t.Errorf("Response(%d).String() = %q, want %q", c.r, c.r.String(), c.name)
		}
		js := string(body)
		for _, s := range c.api {
			if !strings.Contains(js, s) {
				t.Errorf("%v stand-in does not mention %q", c.r, s)
			}
		}
		// Nothing that could reach a network.
		for _, s := range []string{"://", "XMLHttpRequest", "sendBeacon", "fetch(", "new Image", "createElement", "import("} {
			if strings.Contains(js, s) {
				t.Errorf("%v stand-in contains %q", c.r, s)
			}
		}
	}
	for _, r := range []Response{ResponseNone, ResponseGIF, ResponseNoContent, ResponseEmptyCSS, ResponseEmptyHTML, ResponseBlockPage} {
		if body, ok := r.Script(); ok {
			t.Errorf("%v.Script() = %d bytes, want not a script", r, len(body))
		}
	}
	seen := map[string]bool{}
	for r := ResponseGIF; r <= responseLast; r++ {
		name := r.String()
		if name == "" || name == "unknown" || seen[name] {
			t.Errorf("Response(%d).String() = %q: want a name of its own", r, name)
		}
		seen[name] = true
	}
}

// TestRedirectWhicheverRuleBlocks: a $redirect= rule chooses the answer
// also when another rule, of another list, is the one that blocks (as
// EasyPrivacy's ||googletagmanager.com^ would), and $badfilter removes it
// from both roles.
func TestRedirectWhicheverRuleBlocks(t *testing.T) {
	ours := Source{Name: "ours", Format: FormatAdblock, Text: "||www.googletagmanager.com/gtm.js$script,redirect=googletagmanager_gtm.js\n"}
	const gtm = "https://www.googletagmanager.com/gtm.js?id=GTM-AB12CD"
	cases := []struct {
		name  string
		other string
		typ   Type
		want  Response
		rule  string
	}{
		{"host rule", "||googletagmanager.com^", TypeScript, ResponseTagManager, "||googletagmanager.com^"},
		{"pattern rule", "/gtm.js?id=", TypeScript, ResponseTagManager, "/gtm.js?id="},
		{"wrong type", "/gtm.js?id=", TypeXMLHTTPRequest, ResponseNoContent, "/gtm.js?id="},
		{"redirect excepted", "/gtm.js?id=\n@@||googletagmanager.com^$redirect-rule", TypeScript, ResponseEmptyJS, "/gtm.js?id="},
		{"badfilter", "||googletagmanager.com^\n||www.googletagmanager.com/gtm.js$script,redirect=googletagmanager_gtm.js,badfilter", TypeScript, ResponseEmptyJS, "||googletagmanager.com^"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := Compile(Source{Name: "other", Format: FormatAdblock, Text: c.other}, ours)
			for _, st := range m.Lists() {
				if st.BadCount > 0 {
					t.Fatalf("list %s: %v", st.Name, st.Bad)
				}
			}
			d := m.Match(newReq(t, gtm, "https://shop.example/", c.typ))
			if d.Action != Block || d.Response != c.want {
				t.Errorf("Match(%s) = %v %v by %q, want block %v", gtm, d.Action, d.Response, d.Rule, c.want)
			}
			if d.Rule != c.rule && d.Rule != ours.Text[:len(ours.Text)-1] {
				t.Errorf("Match(%s) decided by %q, want %q or ours", gtm, d.Rule, c.rule)
			}
		})
	}
	// Counting: the twin is not a rule of its own.
	m := Compile(ours)
	if st := m.Lists()[0]; st.Blocking != 1 || st.Redirect != 0 {
		t.Errorf("stats = %d blocking, %d redirect-rule; want 1, 0", st.Blocking, st.Redirect)
	}
}

// TestDefaultListTagScripts: the embedded list answers the tag scripts of
// its "tag scripts" part with the right stand-in, as the vendors' install
// snippets load them, and leaves alone the scripts it names as left alone.
func TestDefaultListTagScripts(t *testing.T) {
	m := Compile(Defaults()...)
	const page = "https://shop.example.com/product/42"
	cases := []struct {
		url  string
		typ  Type
		want Response // ResponseNone: must pass
	}{
		{"https://www.google-analytics.com/analytics.js", TypeScript, ResponseGoogleAnalytics},
		{"https://www.google-analytics.com/analytics_debug.js", TypeScript, ResponseGoogleAnalytics},
		{"https://ssl.google-analytics.com/analytics.js", TypeScript, ResponseGoogleAnalytics},
		{"https://www.google-analytics.com/plugins/ua/ec.js", TypeScript, ResponseEmptyJS},
		{"https://ssl.google-analytics.com/ga.js", TypeScript, ResponseGoogleAnalyticsLegacy},
		{"https://www.googletagmanager.com/gtag/js?id=G-ABC123DEF4", TypeScript, ResponseGoogleTag},
		{"https://www.googletagmanager.com/gtag/js?id=AW-123456789", TypeScript, ResponseGoogleTag},
		{"https://www.googletagmanager.com/gtm.js?id=GTM-ABC1234", TypeScript, ResponseTagManager},
		{"https://www.googletagmanager.com/gtm.js?id=GTM-ABC1234&l=myLayer", TypeScript, ResponseTagManager},
		{"https://www.googletagmanager.com/ns.html?id=GTM-ABC1234", TypeSubdocument, ResponseEmptyHTML},
		{"https://connect.facebook.net/en_US/fbevents.js", TypeScript, ResponseMetaPixel},
		{"https://connect.facebook.net/de_DE/fbevents.js", TypeScript, ResponseMetaPixel},
		{"https://connect.facebook.net/signals/config/1234567890123456?v=2.9.170&r=stable", TypeScript, ResponseEmptyJS},
		{"https://bat.bing.com/bat.js", TypeScript, ResponseMicrosoftUET},
		{"https://bat.bing.com/p/action/187012345.js", TypeScript, ResponseEmptyJS},
		{"https://static.ads-twitter.com/uwt.js", TypeScript, ResponseEmptyJS},
		{"https://snap.licdn.com/li.lms-analytics/insight.min.js", TypeScript, ResponseEmptyJS},
		{"https://s.pinimg.com/ct/core.js", TypeScript, ResponseEmptyJS},
		{"https://analytics.tiktok.com/i18n/pixel/events.js?sdkid=C1ABCDEF2GHIJKL3MNOP&lib=ttq", TypeScript, ResponseEmptyJS},
		{"https://sc-static.net/scevent.min.js", TypeScript, ResponseEmptyJS},
		{"https://www.redditstatic.com/ads/pixel.js", TypeScript, ResponseEmptyJS},
		{"https://a.quora.com/qevents.js", TypeScript, ResponseEmptyJS},
		{"https://dynamic.criteo.com/js/ld/ld.js?a=12345", TypeScript, ResponseEmptyJS},
		{"https://amplify.outbrain.com/cp/obtp.js", TypeScript, ResponseEmptyJS},
		{"https://s.adroll.com/j/ABCDEFGHIJKLMNOPQRSTUV/roundtrip.js", TypeScript, ResponseEmptyJS},
		{"https://www.clarity.ms/tag/abcde12345", TypeScript, ResponseEmptyJS},
		{"https://scripts.clarity.ms/0.7.47/clarity.js", TypeScript, ResponseEmptyJS},
		{"https://static.hotjar.com/c/hotjar-1234567.js?sv=6", TypeScript, ResponseEmptyJS},
		{"https://cdn.heapanalytics.com/js/heap-1234567890.js", TypeScript, ResponseEmptyJS},
		{"https://cdn.us.heap-api.com/config/1234567890/heap_config.js", TypeScript, ResponseEmptyJS},
		{"https://cdn.mxpnl.com/libs/mixpanel-2-latest.min.js", TypeScript, ResponseEmptyJS},
		{"https://cdn.amplitude.com/libs/analytics-browser-2.11.1-min.js.gz", TypeScript, ResponseEmptyJS},
		{"https://stats.shop.example.com/matomo.js", TypeScript, ResponseEmptyJS},
		{"https://cdn.matomo.cloud/shop.matomo.cloud/matomo.js", TypeScript, ResponseEmptyJS},
		{"https://shop.example.com/piwik/piwik.js", TypeScript, ResponseEmptyJS},
		{"https://plausible.io/js/script.js", TypeScript, ResponsePlausible},
		{"https://plausible.io/js/script.outbound-links.tagged-events.js", TypeScript, ResponsePlausible},
		{"https://cdn.usefathom.com/script.js", TypeScript, ResponseFathom},
		// Left alone: pages call them directly, or they are not trackers.
		{"https://connect.facebook.net/en_US/sdk.js", TypeScript, ResponseNone},
		{"https://www.googleadservices.com/pagead/conversion_async.js", TypeScript, ResponseNone},
		{"https://cdn.segment.com/analytics.js/v1/AbCdEf123/analytics.min.js", TypeScript, ResponseSegment},
		{"https://cdn.segment.com/analytics-next/bundles/ajs-destination.bundle.16a0f1a8.js", TypeScript, ResponseEmptyJS},
		{"https://cdn.amplitude.com/script/0123456789abcdef.js", TypeScript, ResponseNone},
		{"https://cdn.taboola.com/libtrc/publisher-network/loader.js", TypeScript, ResponseNone},
		{"https://www.googletagmanager.com/gtm.js?id=GTM-ABC1234", TypeImage, ResponseNone},
		{"https://cdn.jsdelivr.net/npm/matomo-tracker@2/index.js", TypeScript, ResponseNone},
		{"https://shop.example.com/static/js/matomo.json", TypeXMLHTTPRequest, ResponseNone},
	}
	for _, c := range cases {
		d := m.Match(newReq(t, c.url, page, c.typ))
		switch {
		case c.want == ResponseNone && d.Action != Pass:
			t.Errorf("Match(%s %s) = %v by %q, want pass", c.typ, c.url, d.Action, d.Rule)
		case c.want != ResponseNone && (d.Action != Block || d.Response != c.want || d.List != DefaultListName):
			t.Errorf("Match(%s %s) = %v %v by %q (%s), want block with %v", c.typ, c.url, d.Action, d.Response, d.Rule, d.List, c.want)
		}
		// A stand-in is only served if the proxy gets to see the request:
		// if a whole-host rule blocks its host, MatchHost must say that
		// the host has stand-ins, or the proxy would refuse its CONNECT
		// and the page get nothing to call.
		if isStandIn(c.want) {
			if hd := m.MatchHost(newReq(t, c.url, "", c.typ).Host); hd.Action == Block && !hd.StandIn {
				t.Errorf("%s has a stand-in, but its host is blocked whole by %q (%s) without StandIn", c.url, hd.Rule, hd.List)
			}
		}
	}
}

// TestMatchHostStandIn: a host blocked whole (for DNS and CONNECT) says when
// rules answer some of its requests with a stand-in, so that the proxy
// intercepts it rather than refusing it.
func TestMatchHostStandIn(t *testing.T) {
	m := Compile(
		Source{Name: "easy", Format: FormatAdblock, Text: "||googletagmanager.com^\n||tracker.example^\n||cdn.example^$important\n"},
		Source{Name: "hosts", Format: FormatHosts, Text: "0.0.0.0 www.google-analytics.com\n"},
		Source{Name: "ours", Format: FormatAdblock, Text: "||www.googletagmanager.com/gtm.js$script,redirect=googletagmanager_gtm.js\n" +
			"||www.google-analytics.com/analytics.js$script,redirect=google-analytics_analytics.js\n" +
			"||cdn.example/tag.js$script,redirect-rule=noopjs\n"},
	)
	cases := []struct {
		host    string
		standIn bool
	}{
		{"www.googletagmanager.com", true},
		{"googletagmanager.com", false},
		{"www.google-analytics.com", true},
		{"tracker.example", false},
		{"cdn.example", true},
	}
	for _, c := range cases {
		if d := m.MatchHost(c.host); d.Action != Block || d.StandIn != c.standIn {
			t.Errorf("MatchHost(%s) = %v, StandIn %v; want block, StandIn %v", c.host, d.Action, d.StandIn, c.standIn)
		}
	}
	if d := m.MatchHost("example.org"); d.Action != Pass || d.StandIn {
		t.Errorf("MatchHost(example.org) = %+v, want pass", d)
	}
}
