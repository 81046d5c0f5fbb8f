package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardPauseSiteInBrowser: headless Chromium opens the Clients
// page, pauses the tracker's site with the form; the page shows the pause
// with its time left, and the next request to the site passes.
func TestDashboardPauseSiteInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install chromium): skipping the browser test")
	}
	port := trackerOrigin(t)
	c, _, _, out, stop := runWorld(t, t.TempDir(), "")
	defer stop()
	pixel := "http://px.tracker.test:" + port + "/open.gif"
	if !blockedNow(t, c, pixel) {
		t.Fatal("the tracker was not blocked to begin with")
	}
	dash := strings.TrimSuffix(waitLine(t, out, "dashboard listening on "), "/")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Flag("headless", "new"), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	artifacts := os.Getenv("PIXELWALL_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		p := filepath.Join(artifacts, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}

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
