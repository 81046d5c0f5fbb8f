package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// listHost serves a list on loopback; its content and health can change.
type listHost struct {
	mu     sync.Mutex
	body   string
	broken bool
	url    string
}

func (h *listHost) set(body string, broken bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.body, h.broken = body, broken
}

func serveList(t *testing.T, body string) *listHost {
	t.Helper()
	h := &listHost{body: body}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.broken {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		io.WriteString(w, h.body)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	h.url = "http://" + l.Addr().String() + "/mine.txt"
	return h
}

func TestListsUpdateAndShow(t *testing.T) {
	fetchBackoff = func(int) time.Duration { return time.Millisecond }
	defer func() { fetchBackoff = nil }()
	h := serveList(t, "! Title: mine\n||one.test^\n||two.test^\n||three.test^\nbad rule$nonsense\n")
	dir := t.TempDir()
	cfg := writeFile(t, "pixelwall.yaml", "lists:\n  - name: mine\n    url: "+h.url+"\n    refresh: 6h\n")
	data := filepath.Join(dir, "data")

	code, out, errOut := runCmd(t, "", "lists", "-config", cfg, "-data", data, "update")
	if code != 0 || !strings.Contains(out, "mine: updated") || !strings.Contains(out, "3 rules") && !strings.Contains(out, "4 rules") {
		t.Fatalf("first update: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCmd(t, "", "lists", "-config", cfg, "-data", data, "update"); code != 0 || !strings.Contains(out, "mine: unchanged") {
		t.Errorf("second update: %d %q", code, out)
	}
	// A failing server: the last good copy stays, the command says so and fails.
	h.set("", true)
	code, out, _ = runCmd(t, "", "lists", "-config", cfg, "-data", data, "update")
	if code != 1 || !strings.Contains(out, "mine: FAILED, keeping the copy from") {
		t.Errorf("failed update: %d %q", code, out)
	}
	// check still uses the cached copy.
	if _, out, _ := runCmd(t, "", "check", "-config", cfg, "-data", data, "https://x.two.test/"); !strings.Contains(out, `"decision":"block"`) {
		t.Errorf("check with the cached list: %s", out)
	}
	code, out, _ = runCmd(t, "", "lists", "-config", cfg, "-data", data, "show")
	for _, want := range []string{
		"pixelwall-default  (embedded, adblock)", "mine  (" + h.url, "rules: 3  (3 hostnames)",
		"bad lines: 1", "line 5: unknown option", "next refresh:", "last error:",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("lists show lacks %q:\n%s", want, out)
		}
	}
}

func TestRunDownloadsListsAndSwaps(t *testing.T) {
	h := serveList(t, "||late.test^\n")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pixelwall.yaml")
	os.WriteFile(cfgPath, []byte("lists:\n  - name: mine\n    url: "+h.url+"\nhttp:\n  listen: 127.0.0.1:0\ndns:\n  listen: 'off'\n"), 0o644)
	addr, stop, _ := startRun(t, "-config", cfgPath, "-data", filepath.Join(dir, "data"))
	defer stop()
	proxyURL, _ := url.Parse("http://" + addr)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}, Timeout: 5 * time.Second}
	// The list arrives in the background; until then the embedded lists
	// serve. Blocked requests are answered by pixelwall itself.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := c.Get("http://late.test/p.gif")
		if err == nil {
			blocked := resp.Header.Get("X-Pixelwall") != ""
			resp.Body.Close()
			if blocked {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the downloaded list never took effect")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
