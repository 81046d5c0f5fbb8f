package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy"
)

// healthCollector reports, at each scrape, every configured list's rules,
// state, last success and failures in a row, and the proxy's upstream
// failures by cause. Either source may be nil.
type healthCollector struct {
	lists    func() []blocklist.ListStatus
	upstream func() map[proxy.Cause]uint64
}

var (
	listRulesDesc = prometheus.NewDesc("pixelwall_list_rules",
		"Rules in use from each configured list.", []string{"list"}, nil)
	listHealthyDesc = prometheus.NewDesc("pixelwall_list_healthy",
		"1 when a list is ok, 0 when it is stale, failed, missing or never downloaded; state names which.", []string{"list", "state"}, nil)
	listSuccessDesc = prometheus.NewDesc("pixelwall_list_last_success_timestamp_seconds",
		"When each downloaded list was last fetched successfully (Unix time; 0: never, or not a downloaded list).", []string{"list"}, nil)
	listFailuresDesc = prometheus.NewDesc("pixelwall_list_failures",
		"Failed downloads of each list since its last success.", []string{"list"}, nil)
	upstreamFailDesc = prometheus.NewDesc("pixelwall_http_upstream_failures_total",
		"Proxied requests and tunnels whose upstream failed, by cause (as in the X-Pixelwall header).", []string{"cause"}, nil)
)

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{listRulesDesc, listHealthyDesc, listSuccessDesc, listFailuresDesc, upstreamFailDesc} {
		ch <- d
	}
}

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	if c.lists != nil {
		for _, l := range c.lists() {
			healthy := 0.0
			if l.State == blocklist.ListOK {
				healthy = 1
			}
			success := l.Meta.LastSuccess
			if success.IsZero() {
				success = l.Meta.Updated // metadata written before successes were recorded
			}
			last := 0.0
			if !success.IsZero() {
				last = float64(success.Unix())
			}
			ch <- prometheus.MustNewConstMetric(listRulesDesc, prometheus.GaugeValue, float64(l.Stats.Rules()), l.Name)
			ch <- prometheus.MustNewConstMetric(listHealthyDesc, prometheus.GaugeValue, healthy, l.Name, l.State.String())
			ch <- prometheus.MustNewConstMetric(listSuccessDesc, prometheus.GaugeValue, last, l.Name)
			ch <- prometheus.MustNewConstMetric(listFailuresDesc, prometheus.GaugeValue, float64(l.Meta.Failures), l.Name)
		}
	}
	if c.upstream != nil {
		counts := c.upstream()
		for _, cause := range proxy.Causes {
			ch <- prometheus.MustNewConstMetric(upstreamFailDesc, prometheus.CounterValue, float64(counts[cause]), string(cause))
		}
	}
}

// watchHealth registers the list and upstream health metrics.
func (m *metrics) watchHealth(lists func() []blocklist.ListStatus, upstream func() map[proxy.Cause]uint64) {
	m.reg.MustRegister(healthCollector{lists: lists, upstream: upstream})
}
