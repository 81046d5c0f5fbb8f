package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestLearnAndUnlearnInBrowser: pixelwall runs with its defaults (learning
// on). Three open pixels of one sender reach a local tracker and are caught
// by the heuristic; the fourth is blocked before contact by a learned rule,
// which `logs` explains. Headless Chromium finds the rule on the dashboard's
// Lists page and presses "Unlearn"; the next pixel reaches the tracker again
// and learned.json no longer holds the rule.
func TestLearnAndUnlearnInBrowser(t *testing.T) {
	var seen atomic.Int64
	tracker := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	})}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go tracker.Serve(tl)
	defer tracker.Close()
	_, port, _ := net.SplitHostPort(tl.Addr().String())

	dir := t.TempDir()
	c, cfgPath, data, out, stop := runWorld(t, dir, "")
	defer stop()
	pixel := func(id string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://t.news.brand.example:"+port+"/o/"+id, nil)
		req.Header.Set("Sec-Fetch-Dest", "image")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i, id := range []string{"5f2b9c1e7a", "c81d4e0a93", "0b7e6d5c4a"} {
		if resp := pixel(id); !strings.Contains(resp.Header.Get("X-Pixelwall"), "heuristic") || seen.Load() != int64(i+1) {
			t.Fatalf("pixel %d: X-Pixelwall %q, tracker saw %d; want caught by the heuristic after reaching it", i+1, resp.Header.Get("X-Pixelwall"), seen.Load())
		}
	}
	rule := "||t.news.brand.example:" + port + "/o/*$image"
	if resp := pixel("9a8b7c6d5e"); resp.Header.Get("X-Pixelwall") != "blocked by learned" || seen.Load() != 3 {
		t.Fatalf("pixel 4: X-Pixelwall %q, tracker saw %d; want blocked by learned before contact (3)", resp.Header.Get("X-Pixelwall"), seen.Load())
	}

	// The log says what was learned and what it blocked (written in batches).
	var logs string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs, "learned rule") && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, logs, _ = runCmd(t, "", "logs", "-config", cfgPath, "-data", data, "-reason", "learned", "-json")
	}
	if !strings.Contains(logs, `"rule":"`+rule) || !strings.Contains(logs, `"list":"learned"`) {
		t.Errorf("logs -reason learned:\n%s", logs)
	}

	dash := strings.TrimSuffix(waitLine(t, out, "dashboard listening on "), "/")
	bctx, shot := newBrowser(t)
	if _, err := chromedp.Run(bctx, chromedp.Navigate(dash+"/log?host=t.news.brand.example")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	text, _ := chromedp.Run(bctx, chromedp.Text("main"))
	shot("dashboard-log-learned.png")
	for _, want := range []string{"loaded from another site; learned rule " + rule, "learned rule: tiny images of this host and path shape were caught"} {
		if !strings.Contains(text, want) {
			t.Errorf("the log page does not explain %q:\n%s", want, text)
		}
	}
	if _, err := chromedp.Run(bctx, chromedp.Navigate(dash+"/lists")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	text, _ = chromedp.Run(bctx, chromedp.Text("main"))
	shot("dashboard-learned-rules.png")
	if !strings.Contains(text, "Learned rules") || !strings.Contains(text, rule) {
		t.Fatalf("the Lists page does not show the learned rule %q:\n%s", rule, text)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => {
		document.querySelector('form[action="/unlearn"] button[type=submit]').click();
		return true;
	})()`)); err != nil {
		t.Fatalf("pressing unlearn: %v", err)
	}
	var after string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(after, "unlearned ") && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		after, _ = chromedp.Run(bctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	}
	shot("dashboard-after-unlearn.png")
	if !strings.Contains(after, "unlearned "+rule) || !strings.Contains(after, "Nothing learned yet.") {
		t.Errorf("no confirmation, or the rule is still listed, after pressing unlearn:\n%s", after)
	}
	if pixel("66778899bb"); seen.Load() != 4 {
		t.Errorf("after unlearning the tracker saw %d requests, want 4", seen.Load())
	}
	if b, err := os.ReadFile(filepath.Join(data, "learned.json")); err != nil || strings.Contains(string(b), "/o/*") {
		t.Errorf("learned.json after unlearning: %v\n%s", err, b)
	}
}
