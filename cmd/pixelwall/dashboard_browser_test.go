package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardAllowInBrowser: real proxied requests are blocked and
// logged; headless Chromium opens the dashboard, finds the entry, presses
// "Allow"; the next identical request passes.
func TestDashboardAllowInBrowser(t *testing.T) {
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

	bctx, shot := newBrowser(t)

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
