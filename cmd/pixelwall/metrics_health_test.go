package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy"
)

func TestHealthMetrics(t *testing.T) {
	success := time.Unix(1_800_000_000, 0)
	reg := prometheus.NewRegistry()
	reg.MustRegister(healthCollector{
		lists: func() []blocklist.ListStatus {
			return []blocklist.ListStatus{
				{Name: "easyprivacy", State: blocklist.ListOK, Stats: blocklist.Compile(blocklist.Source{Name: "easyprivacy", Text: "||a.test^\n||b.test^\n"}).Lists()[0],
					Meta: blocklist.FetchMeta{LastSuccess: success}},
				{Name: "mine", State: blocklist.ListMissing},
				{Name: "moved", State: blocklist.ListStale, Meta: blocklist.FetchMeta{Updated: success, Failures: 3}},
			}
		},
		upstream: func() map[proxy.Cause]uint64 {
			return map[proxy.Cause]uint64{proxy.CauseDNSNXDomain: 4, proxy.CauseTimeout: 1}
		},
	})
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	for _, want := range []string{
		`pixelwall_list_rules{list="easyprivacy"} 2`,
		`pixelwall_list_healthy{list="easyprivacy",state="ok"} 1`,
		`pixelwall_list_healthy{list="mine",state="missing"} 0`,
		`pixelwall_list_healthy{list="moved",state="stale"} 0`,
		`pixelwall_list_last_success_timestamp_seconds{list="moved"} 1.8e+09`,
		`pixelwall_list_last_success_timestamp_seconds{list="mine"} 0`,
		`pixelwall_list_failures{list="moved"} 3`,
		`pixelwall_http_upstream_failures_total{cause="dns-nxdomain"} 4`,
		`pixelwall_http_upstream_failures_total{cause="timeout"} 1`,
		`pixelwall_http_upstream_failures_total{cause="tls-certificate"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q\n%s", want, body)
		}
	}
}

// TestListStatusEveryConfiguredList: a good local file, a missing one, a URL
// list never downloaded and one whose server sent an HTML page are all
// reported, each with its state.
func TestListStatusEveryConfiguredList(t *testing.T) {
	data := t.TempDir()
	good := filepath.Join(t.TempDir(), "good.txt")
	if err := os.WriteFile(good, []byte("||a.test^\n||b.test^\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<!doctype html><title>Moved</title>")
	}))
	defer html.Close()
	cfg := &Config{Lists: []ListConfig{
		{Name: "good", Path: good},
		{Name: "gone", Path: filepath.Join(t.TempDir(), "gone.txt")},
		{Name: "fresh", URL: "http://127.0.0.1:1/never.txt"},
		{Name: "moved", URL: html.URL + "/list.txt"},
	}}
	if r := listFetcher(data).Fetch(context.Background(), "moved", html.URL+"/list.txt", blocklist.FormatAuto); r.Err == nil {
		t.Fatal("an HTML page was taken for a list")
	}
	srcs, _ := listSources(cfg, data, nil, false)
	got := map[string]blocklist.ListStatus{}
	for _, st := range listStatus(cfg, data, blocklist.Compile(srcs...)) {
		got[st.Name] = st
	}
	for name, want := range map[string]blocklist.ListState{"good": blocklist.ListOK, "gone": blocklist.ListMissing,
		"fresh": blocklist.ListNeverFetched, "moved": blocklist.ListFailed} {
		if st, ok := got[name]; !ok || st.State != want {
			t.Errorf("list %s: %+v (reported: %v), want state %v", name, st, ok, want)
		}
	}
	gst, mst := got["good"], got["moved"]
	if gst.Stats.Rules() != 2 || !strings.Contains(mst.Reason, "HTML page") || !strings.Contains(got["gone"].Reason, "no such file") ||
		mst.Meta.Failures != 1 {
		t.Errorf("counts and reasons: good %d rules, moved %q (%d failures), gone %q", gst.Stats.Rules(), mst.Reason,
			mst.Meta.Failures, got["gone"].Reason)
	}
}

func TestProxyAddrForSetupSteps(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8080": "127.0.0.1:8080", "192.168.1.5:3128": "192.168.1.5:3128", "[::1]:8080": "[::1]:8080",
		"127.0.0.1:0": "", "0.0.0.0:8080": "", ":8080": "", "[::]:8080": "", "off": "",
	} {
		if got := proxyAddr(listen); got != want {
			t.Errorf("proxyAddr(%q) = %q, want %q", listen, got, want)
		}
	}
}
