package proxy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The shop's pages load the tag scripts that have stand-ins the way their
// vendors' install snippets do, from the trackers' real hostnames (served by the
// test origin on loopback, so a request that got through would be counted).
// The first page hides itself with the anti-flicker snippet, with a timeout
// far beyond the test's, so only gtm.js (or its stand-in) can show it.
const (
	shopHost = "shop.example.test"
	shopURL  = "https://" + shopHost + "/tags"

	tagsHead = `<meta charset="utf-8"><link rel="icon" href="data:,">
<style>.async-hide{opacity:0 !important} body{font:18px sans-serif;margin:2em} a{display:inline-block;padding:.5em 1em;background:#2563eb;color:#fff}</style>
<script>window.results = {log: []}; function note(s) { results.log.push(s); }</script>`

	antiFlicker = `<script>(function (win, root, cls, layer, timeout, hide) {
  root.className += ' ' + cls;
  hide.start = +new Date();
  var end = function () { root.className = root.className.replace(new RegExp(' ?' + cls), ''); };
  hide.end = end;
  (win[layer] = win[layer] || []).hide = hide;
  setTimeout(function () { end(); hide.end = null; }, timeout);
  hide.timeout = timeout;
})(window, document.documentElement, 'async-hide', 'dataLayer', 600000, {'GTM-PWTEST1': true});</script>`

	gtmSnippet = `<script>(function (w, d, s, l, i) {
  w[l] = w[l] || []; w[l].push({'gtm.start': new Date().getTime(), event: 'gtm.js'});
  var f = d.getElementsByTagName(s)[0], j = d.createElement(s), dl = l != 'dataLayer' ? '&l=' + l : '';
  j.async = true; j.src = 'https://www.googletagmanager.com/gtm.js?id=' + i + dl; f.parentNode.insertBefore(j, f);
})(window, document, 'script', 'dataLayer', 'GTM-PWTEST1');</script>`

	gtagSnippet = `<script async src="https://www.googletagmanager.com/gtag/js?id=G-PWTEST123"></script>
<script>window.dataLayer = window.dataLayer || []; function gtag() { dataLayer.push(arguments); }
gtag('js', new Date()); gtag('config', 'G-PWTEST123');
gtag('event', 'view_item', {event_callback: function () { note('gtag event_callback'); }});</script>`

	gaSnippet = `<script>(function (i, s, o, g, r, a, m) {
  i['GoogleAnalyticsObject'] = r; i[r] = i[r] || function () { (i[r].q = i[r].q || []).push(arguments); }, i[r].l = 1 * new Date();
  a = s.createElement(o), m = s.getElementsByTagName(o)[0]; a.async = 1; a.src = g; m.parentNode.insertBefore(a, m);
})(window, document, 'script', 'https://www.google-analytics.com/analytics.js', 'ga');
ga('create', 'UA-000000-1', 'auto');
ga('send', 'pageview', {hitCallback: function () { note('ga hitCallback'); }});
ga(function (tracker) { note('ga ready ' + tracker.get('name') + ' ' + tracker.get('trackingId')); });</script>`

	metaSnippet = `<script>!function (f, b, e, v, n, t, s) {
  if (f.fbq) return; n = f.fbq = function () { n.callMethod ? n.callMethod.apply(n, arguments) : n.queue.push(arguments); };
  if (!f._fbq) f._fbq = n; n.push = n; n.loaded = !0; n.version = '2.0'; n.queue = [];
  t = b.createElement(e); t.async = !0; t.src = v; s = b.getElementsByTagName(e)[0]; s.parentNode.insertBefore(t, s);
}(window, document, 'script', 'https://connect.facebook.net/en_US/fbevents.js');
fbq('init', '000000000000001'); fbq('track', 'PageView');</script>`

	uetSnippet = `<script>(function (w, d, t, r, u) {
  var f, n, i; w[u] = w[u] || [];
  f = function () { var o = {ti: '000000001', enableAutoSpaTracking: true}; o.q = w[u]; w[u] = new UET(o); w[u].push('pageLoad'); };
  n = d.createElement(t); n.src = r; n.async = 1;
  n.onload = n.onreadystatechange = function () { var s = this.readyState; s && s !== 'loaded' && s !== 'complete' || (f(), n.onload = n.onreadystatechange = null); };
  i = d.getElementsByTagName(t)[0]; i.parentNode.insertBefore(n, i);
})(window, document, 'script', '//bat.bing.com/bat.js', 'uetq');
window.uetq = window.uetq || []; window.uetq.push('event', 'view_item', {revenue_value: 1, currency: 'EUR'});</script>`

	segmentSnippet = `<script>!function () {
  var i = 'analytics', analytics = window[i] = window[i] || [];
  if (analytics.initialize || analytics.invoked) return;
  analytics.invoked = true;
  analytics.methods = ['trackSubmit', 'trackClick', 'trackLink', 'trackForm', 'pageview', 'identify', 'reset', 'group', 'track', 'ready',
    'alias', 'debug', 'page', 'screen', 'once', 'off', 'on', 'addSourceMiddleware', 'addIntegrationMiddleware', 'setAnonymousId',
    'addDestinationMiddleware', 'register'];
  analytics.factory = function (e) { return function () {
    if (window[i].initialized) return window[i][e].apply(window[i], arguments);
    var n = Array.prototype.slice.call(arguments); n.unshift(e); analytics.push(n); return analytics; }; };
  for (var n = 0; n < analytics.methods.length; n++) { var key = analytics.methods[n]; analytics[key] = analytics.factory(key); }
  analytics.load = function (key) { var t = document.createElement('script'); t.async = true;
    t.setAttribute('data-global-segment-analytics-key', i); t.src = 'https://cdn.segment.com/analytics.js/v1/' + key + '/analytics.min.js';
    var s = document.getElementsByTagName('script')[0]; s.parentNode.insertBefore(t, s); };
  analytics._writeKey = 'PWTESTKEY'; analytics.SNIPPET_VERSION = '5.2.0';
  analytics.load('PWTESTKEY'); analytics.page();
}();
analytics.ready(function () { note('segment ready ' + analytics.user().id()); });
analytics.track('Viewed Product', {id: 42}, {}, function () { note('segment track callback'); });</script>`

	tagsPage = `<!doctype html><html lang="en"><head><title>Shop with tags</title>` + tagsHead + antiFlicker + gtmSnippet + gtagSnippet + gaSnippet + metaSnippet + uetSnippet + segmentSnippet + `</head>
<body><h1>A shop page with Google Analytics, the Google tag, Tag Manager, the Meta Pixel, Microsoft UET and Segment</h1>
<p>It hid itself with the anti-flicker snippet until Tag Manager loaded; its buttons navigate only from tag callbacks.</p>
<a id="buy" href="/thanks?via=link">Buy (navigates in GA's hitCallback)</a>
<script>document.getElementById('buy').addEventListener('click', function (ev) {
  ev.preventDefault();
  fbq('track', 'AddToCart', {value: 9.5, currency: 'EUR'});
  uetq.push('event', 'add_to_cart', {revenue_value: 9.5, currency: 'EUR'});
  analytics.track('Added to cart', {value: 9.5});
  ga('send', 'event', 'shop', 'buy', {hitCallback: function () { location.href = '/checkout?via=ga'; }});
});</script></body></html>`

	// Fathom's script defines fathom with no stub; Plausible's documented
	// stub queues calls until its script loads.
	privacyAnalytics = `<script src="https://cdn.usefathom.com/script.js" data-site="PWTEST01" defer></script>
<script defer data-domain="shop.example.test" src="https://plausible.io/js/script.js"></script>
<script>window.plausible = window.plausible || function () { (window.plausible.q = window.plausible.q || []).push(arguments); };</script>`

	// The checkout has a global "ga" of its own, which Tag Manager's
	// stand-in (it carries the analytics.js one) must leave alone.
	checkoutPage = `<!doctype html><html lang="en"><head><title>Checkout</title>` + tagsHead +
		`<script>window.ga = function () { return 'the site\'s own ga'; };</script>` + gtmSnippet + privacyAnalytics + `</head>
<body><h1>Checkout</h1>
<a id="pay" href="/thanks?via=link">Pay (navigates in Plausible's callback, then GTM's eventCallback)</a>
<script>document.getElementById('pay').addEventListener('click', function (ev) {
  ev.preventDefault();
  fathom.trackEvent('pay');
  plausible('Pay', {props: {method: 'card'}, callback: function () {
    dataLayer.push({event: 'purchase', eventCallback: function () { location.href = '/thanks?via=gtm'; }, eventTimeout: 600000});
  }});
});</script></body></html>`

	// The last page still has the legacy ga.js, as old sites do.
	gaLegacySnippet = `<script>var _gaq = _gaq || [];
_gaq.push(['_setAccount', 'UA-000000-2'], ['_set', 'hitCallback', function () { note('ga.js hitCallback'); }], ['_trackPageview']);
(function () { var ga = document.createElement('script'); ga.async = true;
  ga.src = ('https:' == document.location.protocol ? 'https://ssl' : 'http://www') + '.google-analytics.com/ga.js';
  var s = document.getElementsByTagName('script')[0]; s.parentNode.insertBefore(ga, s); })();</script>`

	thanksPage = `<!doctype html><html lang="en"><head><title>Thanks</title>` + tagsHead + gaLegacySnippet + `</head><body><h1 id="done">Thank you</h1></body></html>`
)

// tagState is what the shop page knows about its tags after they loaded.
type tagState struct {
	Log                []string
	Trackers           int
	TrackingID         string
	HideEnd            bool // dataLayer.hide.end is still set: not released
	FBLoaded           bool
	FBQueue            int
	FBVersion          string
	FBCallMethod       string
	GTM                bool // google_tag_manager['GTM-PWTEST1'] exists
	UET                bool // uetq became a UET object
	SegmentUser        bool // analytics.user() works
	Opacity, ClassName string
}

func TestBrowserTagScriptStandIns(t *testing.T) {
	exe := chromiumPath(t)
	bw := newBrowserWorld(t, map[string]string{
		shopHost + "/tags":     tagsPage,
		shopHost + "/checkout": checkoutPage,
		shopHost + "/thanks":   thanksPage,
	})
	ctx := startChromium(t, exe, bw.proxyURL, bw.ca.SPKIHash(), 60*time.Second)

	// Every error the page reports: exceptions, console.error, and the
	// browser's own log (failed loads, CSP, ...).
	var mu sync.Mutex
	var consoleErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				msg = "console." + string(e.Type)
				for _, a := range e.Args {
					msg += " " + a.Description + string(a.Value)
				}
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				msg = "log: " + e.Entry.Text + " " + e.Entry.URL
			}
		}
		if msg != "" {
			mu.Lock()
			consoleErrors = append(consoleErrors, msg)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(shopURL)); err != nil {
		t.Fatalf("navigate %s: %v", shopURL, err)
	}
	// The page shows: the stand-in released the anti-flicker snippet.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.documentElement.classList.contains('async-hide') &&
		getComputedStyle(document.documentElement).opacity === '1'`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the page stayed hidden by the anti-flicker snippet: %v", err)
	}
	// The callbacks queued before the scripts loaded ran.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`results.log.length >= 5`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("waiting for the tag callbacks: %v", err)
	}
	st, err := chromedp.Run(ctx, chromedp.Evaluate[tagState](`({
		Log: results.log, Trackers: ga.getAll().length,
		TrackingID: ga.getByName('t0') ? ga.getByName('t0').get('trackingId') : '',
		HideEnd: !!dataLayer.hide.end,
		FBLoaded: fbq.loaded === true, FBQueue: fbq.queue.length, FBVersion: String(fbq.version),
		FBCallMethod: typeof fbq.callMethod,
		GTM: !!(window.google_tag_manager && google_tag_manager['GTM-PWTEST1']),
		UET: typeof UET === 'function' && uetq instanceof UET,
		SegmentUser: analytics.initialized === true && analytics.user().id() === null,
		Opacity: getComputedStyle(document.documentElement).opacity, ClassName: document.documentElement.className})`))
	if err != nil {
		t.Fatalf("reading the page's tag state: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, "browser-standins.png", shot)

	slices.Sort(st.Log)
	if want := []string{"ga hitCallback", "ga ready t0 UA-000000-1", "gtag event_callback", "segment ready null", "segment track callback"}; !slices.Equal(st.Log, want) {
		t.Errorf("tag callbacks = %q, want %q", st.Log, want)
	}
	if st.Trackers != 1 || st.TrackingID != "UA-000000-1" {
		t.Errorf("ga.getAll() has %d trackers, t0's trackingId %q; want 1, UA-000000-1", st.Trackers, st.TrackingID)
	}
	if st.HideEnd || st.Opacity != "1" || strings.Contains(st.ClassName, "async-hide") {
		t.Errorf("anti-flicker: hide.end still set %v, opacity %s, class %q; want released", st.HideEnd, st.Opacity, st.ClassName)
	}
	if !st.FBLoaded || st.FBQueue != 0 || st.FBVersion != "2.0" || st.FBCallMethod != "function" {
		t.Errorf("fbq: loaded %v, queue %d, version %q, callMethod %s; want loaded, empty queue, 2.0, function", st.FBLoaded, st.FBQueue, st.FBVersion, st.FBCallMethod)
	}
	if !st.GTM || !st.UET || !st.SegmentUser {
		t.Errorf("google_tag_manager['GTM-PWTEST1'] %v, uetq a UET %v, analytics.user() %v; want all", st.GTM, st.UET, st.SegmentUser)
	}

	// Navigation from GA's hitCallback (the click also calls fbq('track')),
	// then from GTM's eventCallback.
	for _, step := range []struct{ click, next, via string }{{"#buy", "#pay", "ga"}, {"#pay", "#done", "gtm"}} {
		sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := chromedp.Do(sctx, chromedp.Click(chromedp.CSS(step.click)), chromedp.WaitVisible(chromedp.CSS(step.next)))
		cancel()
		if err != nil {
			t.Errorf("click %s, wait for %s: %v", step.click, step.next, err)
			break
		}
		// The next page's deferred scripts have run, as a reader's would
		// have before they click.
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === 'complete'`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatalf("after %s: page never finished loading: %v", step.click, err)
		}
		search, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
		if err != nil || search != "?via="+step.via {
			t.Errorf("after %s: location.search = %q (%v), want ?via=%s", step.click, search, err, step.via)
		}
		if step.next == "#pay" {
			if own, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(ga())`)); err != nil || own != "the site's own ga" {
				t.Errorf("the checkout's own ga() = %q (%v): the stand-in replaced it", own, err)
			}
		}
	}

	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`results.log.indexOf('ga.js hitCallback') >= 0 && typeof _gat._getTracker === 'function'`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the legacy ga.js queue was not answered: %v", err)
	}

	mu.Lock()
	if len(consoleErrors) > 0 {
		t.Errorf("the pages logged errors: %q", consoleErrors)
	}
	mu.Unlock()
	for _, host := range []string{"www.googletagmanager.com", "www.google-analytics.com", "connect.facebook.net", "www.facebook.com", "bat.bing.com", "cdn.segment.com", "api.segment.io", "cdn.usefathom.com", "plausible.io", "ssl.google-analytics.com"} {
		if n := bw.origin.countHost(host); n != 0 {
			t.Errorf("tracker %s received %d requests, want 0", host, n)
		}
	}
	for _, p := range []string{"/tags", "/checkout", "/thanks"} {
		if n := bw.origin.count(shopHost + p); n != 1 {
			t.Errorf("shop served %s %d times, want 1", p, n)
		}
	}
	var standIns []string
	bw.mu.Lock()
	for _, e := range bw.events {
		if e.Kind == KindBlocked && strings.HasPrefix(e.Response, "stand-in-") {
			standIns = append(standIns, e.Host+" "+e.Response)
		}
	}
	bw.mu.Unlock()
	slices.Sort(standIns)
	standIns = slices.Compact(standIns)
	want := []string{
		"bat.bing.com stand-in-bat.js", "cdn.segment.com stand-in-segment.js",
		"cdn.usefathom.com stand-in-fathom.js", "connect.facebook.net stand-in-fbevents.js", "plausible.io stand-in-plausible.js",
		"ssl.google-analytics.com stand-in-ga.js",
		"www.google-analytics.com stand-in-analytics.js",
		"www.googletagmanager.com stand-in-gtag.js", "www.googletagmanager.com stand-in-gtm.js",
	}
	if !slices.Equal(standIns, want) {
		t.Errorf("stand-ins served = %q, want %q", standIns, want)
	}
}

// saveArtifact keeps a test's output file in PIXELWALL_ARTIFACTS, or in the
// test's temporary directory when that is unset.
func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := os.Getenv("PIXELWALL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", name, path)
}
