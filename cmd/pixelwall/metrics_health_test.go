package main

import (
	"io"
	"net/http/httptest"
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
