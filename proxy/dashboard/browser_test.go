package dashboard

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// startBrowser starts headless Chromium (no proxy: the dashboard is on
// loopback) with a window of the given size, or skips the test.
func startBrowser(t *testing.T, w, h int) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	exe := ""
	for _, name := range []string{"/usr/bin/chromium", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Skip("chromium not installed (apt-get install chromium): skipping the browser test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	)
	cctx, _ := chromedp.NewContext(actx)
	t.Cleanup(func() {
		qctx, qcancel := context.WithTimeout(cctx, 10*time.Second)
		chromedp.Cancel(qctx)
		qcancel()
		acancel()
		cancel()
	})
	return cctx
}

// artifact writes a screenshot where PIXELWALL_ARTIFACTS says (else into
// the test's temporary directory) and logs its path.
func artifact(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("PIXELWALL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// browserDashboard serves a dashboard with a varied log (long URLs and
// rules, a heuristic entry, CONNECT retries) and lists of every state.
func browserDashboard(t *testing.T) string {
	t.Helper()
	l := newLog(t)
	now := time.Now()
	entries := []blocklog.Entry{
		{Time: now.Add(-2 * time.Minute), Layer: "http", Kind: "params-stripped", Client: "192.168.100.123", Method: "GET", Host: "www.some-long-shop-name.example",
			URL:  "https://www.some-long-shop-name.example/products/category/very-long-product-name-with-many-words?utm_source=newsletter&utm_medium=email&utm_campaign=winter-sale-2026",
			Type: "document", Removed: []string{"utm_source", "utm_medium", "utm_campaign"}},
		{Time: now.Add(-3 * time.Minute), Layer: "http", Kind: "blocked", Client: "192.168.100.123", Method: "POST", Host: "region1.analytics.google-analytics-mirror.example",
			URL: "https://region1.analytics.google-analytics-mirror.example/g/collect?v=2&tid=G-ABCDEF1234&cid=1234567890.1234567890", Type: "xmlhttprequest",
			Source: "news.example", Rule: "||analytics.google-analytics-mirror.example/g/collect$xmlhttprequest,third-party", List: "easyprivacy-tracking-servers", Response: "no-content"},
		{Time: now.Add(-4 * time.Minute), Layer: "http", Kind: "heuristic", Client: "192.168.1.11", Method: "GET", Host: "px.mailer.example",
			URL: "https://px.mailer.example/o/ab12cd34ef56.gif", Type: "image", Source: "news.example", Response: "1x1-gif", Detail: "image is 1×1, loaded from another site"},
		{Time: now.Add(-5 * time.Minute), Layer: "dns", Kind: "blocked", Client: "192.168.1.12", Host: "telemetry.smart-tv-vendor.example", Type: "AAAA",
			Rule: "telemetry.smart-tv-vendor.example", List: "hosts"},
	}
	for i := range 5 {
		entries = append(entries, blocklog.Entry{Time: now.Add(-6*time.Minute - time.Duration(i)*200*time.Millisecond), Layer: "http", Kind: "connect-refused",
			Client: "192.168.1.10", Method: "CONNECT", Host: "pinned.tracker.example", Rule: "||tracker.example^", List: "easyprivacy", Detail: "retry"})
	}
	add(t, l, entries...)
	s := newServer(t, Options{Log: l, Proxy: "192.168.1.5:8080",
		Allow: func(AllowAction) error { return nil }, Block: func(BlockAction) error { return nil },
		Lists: func() []blocklist.ListStatus {
			lists := testLists(now)
			lists[2].Source = "https://lists.example/moved/very/long/path/to/a/list/that/no/longer/exists.txt"
			return lists
		}})
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return hs.URL
}

// layout is what the page's DOM says about its fit.
type layout struct {
	ViewportW   int
	ScrollW     int
	Overflowing []string // visible elements that reach past the viewport's right edge
	Cut         []string // cells whose content is wider than the cell (cut off)
	Rows        []rowBox // the log rows
	NavVisible  bool     // every menu link is inside the viewport
}

type rowBox struct {
	Display string
	W       float64
	HostW   float64
	Font    float64
}

const layoutJS = `(() => {
  const vw = document.documentElement.clientWidth;
  const name = e => e.tagName.toLowerCase() + (e.className ? "." + String(e.className).split(" ").join(".") : "") + " " + (e.textContent || "").trim().slice(0, 30);
  const over = [], cut = [];
  for (const e of document.querySelectorAll("body *")) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.right > vw + 0.5 || r.left < -0.5) over.push(name(e) + " [" + Math.round(r.left) + "," + Math.round(r.right) + "]");
  }
  for (const e of document.querySelectorAll("table.entries td:not(.c-url), table.entries td .badge, table.entries td .w, table.entries td .t, table.lists td, table.lists td .w, table.lists td .t")) {
    if (e.getBoundingClientRect().width === 0) continue;
    if (e.scrollWidth > e.clientWidth + 1) cut.push(name(e) + " (" + e.scrollWidth + " > " + e.clientWidth + ")");
  }
  const rows = Array.from(document.querySelectorAll("table.entries tbody tr"), tr => {
    const host = tr.querySelector("td.c-host");
    return {Display: getComputedStyle(tr).display, W: tr.getBoundingClientRect().width,
      HostW: host ? host.getBoundingClientRect().width : 0, Font: parseFloat(getComputedStyle(tr).fontSize)};
  });
  const nav = Array.from(document.querySelectorAll("header nav a"));
  return {ViewportW: vw, ScrollW: document.documentElement.scrollWidth, Overflowing: over, Cut: cut, Rows: rows,
    NavVisible: nav.length > 0 && nav.every(a => { const r = a.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= vw; })};
})()`

// TestBrowserDashboardPhone opens the overview, the log and the lists at
// 390 px wide: nothing reaches past the screen's edge, the menu is whole,
// and log rows are blocks as wide as the screen.
func TestBrowserDashboardPhone(t *testing.T) {
	base := browserDashboard(t)
	ctx := startBrowser(t, 390, 844)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	for _, page := range []struct{ path, shot string }{
		{"/", "dashboard-390-overview.png"},
		{"/log", "dashboard-390-log.png"},
		{"/lists", "dashboard-390-lists.png"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+page.path)); err != nil {
			t.Fatal(err)
		}
		lay, err := chromedp.Run(ctx, chromedp.Evaluate[layout](layoutJS))
		if err != nil {
			t.Fatal(err)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		artifact(t, page.shot, shot)
		if lay.ViewportW != 390 {
			t.Fatalf("%s: viewport %d px wide, want 390 (the viewport meta tag is not honoured?)", page.path, lay.ViewportW)
		}
		if lay.ScrollW > lay.ViewportW || len(lay.Overflowing) > 0 {
			t.Errorf("%s at 390 px: page %d px wide; elements past the edge:\n%s", page.path, lay.ScrollW, strings.Join(lay.Overflowing, "\n"))
		}
		if !lay.NavVisible {
			t.Errorf("%s at 390 px: a menu link is cut off", page.path)
		}
		if len(lay.Cut) > 0 {
			t.Errorf("%s at 390 px: cut-off cells:\n%s", page.path, strings.Join(lay.Cut, "\n"))
		}
		if page.path == "/log" {
			if len(lay.Rows) != 5 {
				t.Errorf("log rows: %d, want 5 (the 5 CONNECT retries as one)", len(lay.Rows))
			}
			for i, r := range lay.Rows {
				if r.Display != "block" || r.W < 340 || r.HostW < 300 || r.Font < 12 {
					t.Errorf("log row %d at 390 px: %+v; want a block ≥ 340 px wide with the host on ≥ 300 px, text ≥ 12 px", i, r)
				}
			}
		}
	}
}

// TestBrowserDashboardDesktop: at 1280 px no kind, type, rule or list cell
// of the log is cut off, and the lists page shows the failed lists.
func TestBrowserDashboardDesktop(t *testing.T) {
	base := browserDashboard(t)
	ctx := startBrowser(t, 1280, 900)
	for _, page := range []struct{ path, shot string }{
		{"/log", "dashboard-1280-log.png"},
		{"/lists", "dashboard-lists-failed.png"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+page.path)); err != nil {
			t.Fatal(err)
		}
		lay, err := chromedp.Run(ctx, chromedp.Evaluate[layout](layoutJS))
		if err != nil {
			t.Fatal(err)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		artifact(t, page.shot, shot)
		if len(lay.Cut) > 0 {
			t.Errorf("%s at 1280 px: cut-off cells:\n%s", page.path, strings.Join(lay.Cut, "\n"))
		}
		if lay.ScrollW > lay.ViewportW {
			t.Errorf("%s at 1280 px: page %d px wide; elements past the edge:\n%s", page.path, lay.ScrollW, strings.Join(lay.Overflowing, "\n"))
		}
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"the server sent an HTML page", "MISSING", "open /etc/pixelwall/mine.txt: no such file", "3 FAILING"} {
		if !strings.Contains(strings.ToUpper(text), strings.ToUpper(want)) {
			t.Errorf("lists page lacks %q:\n%s", want, text)
		}
	}

	// A dashboard with nothing logged yet shows the setup steps, linking
	// the proxy's CA page and PAC file.
	empty := httptest.NewServer(newServer(t, Options{Proxy: "192.168.1.5:8080"}))
	t.Cleanup(empty.Close)
	if err := chromedp.Do(ctx, chromedp.Navigate(empty.URL+"/")); err != nil {
		t.Fatal(err)
	}
	links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(".setup a"), a => a.href)`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	artifact(t, "dashboard-setup.png", shot)
	if strings.Join(links, " ") != "http://192.168.1.5:8080/proxy.pac http://192.168.1.5:8080/" {
		t.Errorf("setup step links = %q, want the PAC file and the CA page", links)
	}
}
