package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardAllowInBrowser: real proxied requests are blocked and
// logged; headless Chromium opens the dashboard, finds the entry, presses
// "Allow"; the next identical request passes.
func TestDashboardAllowInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install chromium): skipping the browser test")
	}
	// An origin for the tracker host, reached once it is allowed.
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/gif")
		io.WriteString(w, "GIF89a-from-origin")
	})}
	ol, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go origin.Serve(ol)
	defer origin.Close()
	_, port, _ := net.SplitHostPort(ol.Addr().String())

	dir := t.TempDir()
	c, _, _, out, stop := runWorld(t, dir, "")
	defer stop()
	pixel := "http://px.tracker.test:" + port + "/open.gif?u=abc123"
	blockedNow := func() bool {
		resp, err := c.Get(pixel)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.Header.Get("X-Pixelwall") != ""
	}
	if !blockedNow() {
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

	// The log lists the blocked request (the writer flushes in batches).
	var text string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(text, "px.tracker.test"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard never showed the blocked request:\n%s", text)
		}
		if err := chromedp.Do(bctx, chromedp.Navigate(dash+"/log?host=px.tracker.test")); err != nil {
			t.Fatalf("navigate: %v", err)
		}
		text, _ = chromedp.Run(bctx, chromedp.Text("main"))
	}
	shot("dashboard-log-before-allow.png")
	// Open the entry's "Allow…" popover and press its button (defaults: this
	// host, all clients, for an hour); the browser submits the form, CSRF
	// token and all.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => {
		const d = document.querySelector("details.allow");
		d.open = true;
		d.querySelector('form[action="/allow"] button[type=submit]').click();
		return true;
	})()`)); err != nil {
		t.Fatalf("pressing allow: %v", err)
	}
	var after string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(after, "allowed px.tracker.test"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
		after, _ = chromedp.Run(bctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	}
	shot("dashboard-after-allow.png")
	if !strings.Contains(after, "allowed px.tracker.test") {
		t.Errorf("no confirmation after pressing allow:\n%s", after)
	}
	if blockedNow() {
		t.Error("the next identical request was still blocked after allowing it")
	}
}
