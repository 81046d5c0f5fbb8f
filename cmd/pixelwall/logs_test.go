package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// runWorld starts `pixelwall run` with a config that blocks tracker.test
// and logs to a file in dir; it returns the proxy client and the config path.
func runWorld(t *testing.T, dir, extra string) (c *http.Client, cfgPath, data string, out *lockedBuffer, stop func() int) {
	t.Helper()
	cfgPath = filepath.Join(dir, "pixelwall.yaml")
	cfg := "lists: []\ndeny: [tracker.test]\nhttp:\n  listen: 127.0.0.1:0\ndns:\n  listen: 'off'\n  upstreams: [" + dnsStub(t) + "]\ndashboard:\n  listen: 127.0.0.1:0\n" + extra
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(dir, "data")
	addr, stop, out := startRun(t, "-config", cfgPath, "-data", data, "-no-refresh")
	proxyURL, _ := url.Parse("http://" + addr)
	c = &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}, Timeout: 5 * time.Second}
	return c, cfgPath, data, out, stop
}

func TestLogsWhileRunning(t *testing.T) {
	dir := t.TempDir()
	c, cfgPath, data, runOut, stop := runWorld(t, dir, "")
	defer stop()
	for _, u := range []string{"http://px.tracker.test/open.gif?email=reader%40example.org&id=42", "http://tracker.test/b.gif"} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// The log is written in batches: wait for the entries.
	var out string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var code int
		code, out, _ = runCmd(t, "", "logs", "-config", cfgPath, "-data", data)
		if code == 0 && strings.Count(out, "tracker.test") >= 2 {
			break
		}
	}
	for _, want := range []string{"WHEN", "KIND", "blocked", "px.tracker.test", "s ago", "deny"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "reader") || strings.Contains(out, "42") {
		t.Errorf("query values were not redacted:\n%s", out)
	}
	// /metrics on the dashboard counts the same blocks.
	dash := waitLine(t, runOut, "dashboard listening on ")
	resp, err := http.Get(dash + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`pixelwall_blocks_total{layer="http",list="deny",reason="blocked"} 2`, "pixelwall_log_dropped_total 0", "pixelwall_dns_queries_total"} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	_, top, _ := runCmd(t, "", "logs", "-config", cfgPath, "-data", data, "-top", "hosts")
	if !strings.Contains(top, "COUNT") || !strings.Contains(top, "1  px.tracker.test") && !strings.Contains(top, "1 px.tracker.test") {
		t.Errorf("-top hosts:\n%s", top)
	}
	_, js, _ := runCmd(t, "", "logs", "-config", cfgPath, "-data", data, "-json", "-reason", "blocked")
	lines := strings.Split(strings.TrimSpace(js), "\n")
	var first map[string]any
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || first["rule"] != "tracker.test" || first["count"] != 1.0 {
		t.Errorf("-json: %q", js)
	}
	if code, out, _ := runCmd(t, "", "logs", "-config", cfgPath, "-data", data, "-top", "colors"); code != 2 || out != "" {
		t.Errorf("-top colors: exit %d", code)
	}
	stop()
	if code, out, errOut := runCmd(t, "", "logs", "-config", cfgPath, "-data", data, "purge", "-since", "0"); code != 0 || !strings.Contains(out, "purged 2 decisions") {
		t.Errorf("purge: %d %q %q", code, out, errOut)
	}
	if _, out, _ := runCmd(t, "", "logs", "-config", cfgPath, "-data", data); strings.Contains(out, "tracker.test") {
		t.Errorf("entries left after purge:\n%s", out)
	}
}

func TestPrintEntriesCount(t *testing.T) {
	at := time.Now().Add(-time.Minute)
	entries := []blocklog.Entry{
		{ID: 1, Time: at, Layer: "dns", Kind: "blocked", Client: "192.0.2.1", Host: "once.test", Type: "A", Count: 1},
		{ID: 2, Time: at, Layer: "dns", Kind: "blocked", Client: "192.0.2.1", Host: "many.test", Type: "A", Count: 1000},
	}
	var text strings.Builder
	printEntries(&text, entries, false, true)
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", text.String())
	}
	if strings.Contains(lines[1], "×") || !strings.Contains(lines[1], "once.test") {
		t.Errorf("an entry of count 1 shows a count: %q", lines[1])
	}
	if !strings.Contains(lines[2], "blocked ×1000") || !strings.Contains(lines[2], "many.test") {
		t.Errorf("an entry of count 1000 lacks \"blocked ×1000\": %q", lines[2])
	}

	var js strings.Builder
	printEntries(&js, entries, true, false)
	var counts []int64
	for _, l := range strings.Split(strings.TrimSpace(js.String()), "\n") {
		var e blocklog.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		counts = append(counts, e.Count)
	}
	if len(counts) != 2 || counts[0] != 1 || counts[1] != 1000 {
		t.Errorf("JSON counts %v, want [1 1000]:\n%s", counts, js.String())
	}
}

// TestBlocksMetricMatchesLog: /metrics counts as blocks exactly what the
// log's charts do (blocklog.Blocked): an unwrapped redirect tracker is one,
// a client refused by the resolver's ACL is not.
func TestBlocksMetricMatchesLog(t *testing.T) {
	blog, err := blocklog.Open(blocklog.Options{Path: filepath.Join(t.TempDir(), "log.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer blog.Close()
	m := newMetrics(blog, func() *resolver.Server { return nil })
	for _, d := range []struct {
		layer string
		kind  blocklog.Kind
	}{
		{"http", "blocked"}, {"http", "unwrapped"}, {"http", "params-stripped"}, {"dns", "refused"}, {"dns", "blocked"},
	} {
		m.decision(d.layer, d.kind, "l")
	}
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		if f.GetName() != "pixelwall_blocks_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got = append(got, fmt.Sprintf("%s/%s=%v", labels["layer"], labels["reason"], s.GetCounter().GetValue()))
		}
	}
	slices.Sort(got)
	if want := []string{"dns/blocked=1", "http/blocked=1", "http/unwrapped=1"}; !slices.Equal(got, want) {
		t.Errorf("pixelwall_blocks_total: %v, want %v", got, want)
	}
}
