package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// trackerOrigin serves any host, so that a request that passes is seen.
func trackerOrigin(t *testing.T) string {
	t.Helper()
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/gif")
		io.WriteString(w, "GIF89a-from-origin")
	})}
	ol, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go origin.Serve(ol)
	t.Cleanup(func() { origin.Close() })
	_, port, _ := net.SplitHostPort(ol.Addr().String())
	return port
}

// waitDashboardAddr waits for run to record the dashboard's address.
func waitDashboardAddr(t *testing.T, data string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(dashboardAddrPath(data)); err == nil {
			return
		}
	}
	t.Fatal("run never recorded the dashboard's address")
}

// blockedNow reports whether c's GET of u was answered by pixelwall.
func blockedNow(t *testing.T, c *http.Client, u string) bool {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("X-Pixelwall") != ""
}

// TestPauseCommandSurvivesReloadAndRestart: `pixelwall pause -site` talks
// to the running instance; the pause holds over SIGHUP and a restart;
// `pixelwall resume` ends it.
func TestPauseCommandSurvivesReloadAndRestart(t *testing.T) {
	port := trackerOrigin(t)
	dir := t.TempDir()
	c, cfgPath, data, _, stop := runWorld(t, dir, "")
	pixel := "http://px.tracker.test:" + port + "/open.gif"
	if !blockedNow(t, c, pixel) {
		t.Fatal("the tracker was not blocked to begin with")
	}
	waitDashboardAddr(t, data)
	code, out, errOut := runCmd(t, "", "pause", "-config", cfgPath, "-data", data, "-site", "www.tracker.test", "1h")
	if code != 0 || !strings.Contains(out, "paused site tracker.test until ") {
		t.Fatalf("pause: %d %q %q", code, out, errOut)
	}
	if blockedNow(t, c, pixel) {
		t.Fatal("blocked during the site's pause")
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond) // the reload is asynchronous; a lost pause would show as a block
	if blockedNow(t, c, pixel) {
		t.Fatal("the pause did not survive SIGHUP")
	}
	if code := stop(); code != 0 {
		t.Fatalf("stop: %d", code)
	}
	c, cfgPath, data, _, stop = runWorld(t, dir, "")
	defer stop()
	if blockedNow(t, c, pixel) {
		t.Fatal("the pause did not survive a restart")
	}
	waitDashboardAddr(t, data)
	if code, out, errOut := runCmd(t, "", "resume", "-config", cfgPath, "-data", data, "-site", "tracker.test"); code != 0 || !strings.Contains(out, "resumed 1 pause") {
		t.Fatalf("resume: %d %q %q", code, out, errOut)
	}
	if !blockedNow(t, c, pixel) {
		t.Fatal("not blocked after resume")
	}
	// A pause of this client (by address) until a time.
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if code, out, errOut := runCmd(t, "", "pause", "-config", cfgPath, "-data", data, "-client", "127.0.0.1", "-until", until); code != 0 || !strings.Contains(out, "paused client 127.0.0.1 until "+until) {
		t.Fatalf("pause -until: %d %q %q", code, out, errOut)
	}
	if blockedNow(t, c, pixel) {
		t.Fatal("blocked during the client's pause")
	}
	if code, out, _ := runCmd(t, "", "resume", "-config", cfgPath, "-data", data); code != 0 || !strings.Contains(out, "resumed 1 pause") || !blockedNow(t, c, pixel) {
		t.Fatalf("resume all: %d %q", code, out)
	}
	// Usage and refusals.
	if code, _, errOut := runCmd(t, "", "pause", "-config", cfgPath, "-data", data, "-site", "a.test", "-client", "x"); code != 2 || !strings.Contains(errOut, "at most one") {
		t.Errorf("two selectors: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "", "pause", "-config", cfgPath, "-data", data, "-group", "nope", "5m"); code != 1 || !strings.Contains(errOut, `no group "nope"`) {
		t.Errorf("unknown group: %d %q", code, errOut)
	}
}

func TestParseUntil(t *testing.T) {
	now := time.Date(2026, 12, 6, 17, 30, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"18:00":                time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC),
		"08:15":                time.Date(2026, 12, 7, 8, 15, 0, 0, time.UTC),
		"2026-12-24T18:00:00Z": time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC),
	} {
		if got, err := parseUntil(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseUntil(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"2026-12-01T00:00:00Z", "tomorrow", "25:00"} {
		if _, err := parseUntil(bad, now); err == nil {
			t.Errorf("parseUntil(%q) accepted", bad)
		}
	}
}
