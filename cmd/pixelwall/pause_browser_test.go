package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardPauseSiteInBrowser: headless Chromium opens the Clients
// page, pauses the tracker's site with the form; the page shows the pause
// with its time left, and the next request to the site passes.
func TestDashboardPauseSiteInBrowser(t *testing.T) {
	port := trackerOrigin(t)
	c, _, _, out, stop := runWorld(t, t.TempDir(), "")
	defer stop()
	pixel := "http://px.tracker.test:" + port + "/open.gif"
	if !blockedNow(t, c, pixel) {
		t.Fatal("the tracker was not blocked to begin with")
	}
	dash := strings.TrimSuffix(waitLine(t, out, "dashboard listening on "), "/")

	bctx, shot := newBrowser(t)

	if err := chromedp.Do(bctx, chromedp.Navigate(dash+"/clients")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	// Fill the pause form (scope site, for an hour: its defaults) and
	// submit it; the browser sends the CSRF token with it.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => {
		const f = document.querySelector("#pause-form");
		f.querySelector("input[name=name]").value = "www.tracker.test";
		f.querySelector("button[type=submit]").click();
		return true;
	})()`)); err != nil {
		t.Fatalf("submitting the pause form: %v", err)
	}
	var after string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(after, "paused site tracker.test"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
		after, _ = chromedp.Run(bctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	}
	shot("dashboard-clients-paused.png")
	if !strings.Contains(after, "paused site tracker.test") {
		t.Fatalf("no confirmation after pausing:\n%s", after)
	}
	pauses, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.querySelector("#pauses") || {innerText: ""}).innerText`))
	if !strings.Contains(pauses, "tracker.test") || !strings.Contains(pauses, "1h0m0s") && !strings.Contains(pauses, "59m") {
		t.Errorf("the pause is not listed with its time left:\n%s", pauses)
	}
	if blockedNow(t, c, pixel) {
		t.Error("the next request to the paused site was still blocked")
	}
}
