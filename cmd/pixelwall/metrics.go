package main

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// metrics are pixelwall's Prometheus metrics, served at the dashboard's
// /metrics.
type metrics struct {
	reg       *prometheus.Registry
	decisions *prometheus.CounterVec // layer, kind
	blocks    *prometheus.CounterVec // layer, reason, list
	upstream  *prometheus.HistogramVec
	// counters caches the children of decisions and blocks by their label
	// values: resolving labels is costly on the per-query path.
	counters sync.Map // [3]string{layer, kind, list} → [2]prometheus.Counter (blocks may be nil)
}

func newMetrics(log *blocklog.Log, dns func() *resolver.Server) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelwall_requests_total", Help: "HTTP requests and DNS queries decided, by layer and outcome.",
		}, []string{"layer", "kind"}),
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pixelwall_blocks_total", Help: "Blocks by layer, reason and list.",
		}, []string{"layer", "reason", "list"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pixelwall_dns_upstream_duration_seconds",
			Help:    "Time upstream DNS servers took to answer, by upstream and result.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"upstream", "result"}),
	}
	stat := func(f func(resolver.Stats) uint64) func() float64 {
		return func() float64 {
			if s := dns(); s != nil {
				return float64(f(s.Stats()))
			}
			return 0
		}
	}
	reg.MustRegister(m.decisions, m.blocks, m.upstream,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pixelwall_dns_queries_total", Help: "DNS queries received."},
			stat(func(s resolver.Stats) uint64 { return s.Queries })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pixelwall_dns_cache_hits_total", Help: "DNS answers served from the cache."},
			stat(func(s resolver.Stats) uint64 { return s.CacheHits })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pixelwall_dns_stale_answers_total", Help: "Expired answers served because no upstream answered (RFC 8767)."},
			stat(func(s resolver.Stats) uint64 { return s.Stale })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pixelwall_dns_servfail_total", Help: "SERVFAIL answers: no upstream answered and no stale answer was at hand."},
			stat(func(s resolver.Stats) uint64 { return s.ServFail })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pixelwall_dns_refusals_dropped_total", Help: "DNS queries from clients outside allow_clients dropped unanswered, beyond the refusal rate."},
			stat(func(s resolver.Stats) uint64 { return s.RefusalsDropped })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pixelwall_dns_cache_hit_ratio", Help: "Cache hits over queries since start."},
			func() float64 {
				if s := dns(); s != nil && s.Stats().Queries > 0 {
					st := s.Stats()
					return float64(st.CacheHits) / float64(st.Queries)
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pixelwall_log_dropped_total", Help: "Decisions the block log dropped because its write queue was full."},
			func() float64 { return float64(log.Dropped()) }),
	)
	return m
}

func (m *metrics) decision(layer string, kind blocklog.Kind, list string) {
	key := [3]string{layer, string(kind), list}
	c, ok := m.counters.Load(key)
	if !ok {
		pair := [2]prometheus.Counter{m.decisions.WithLabelValues(layer, string(kind)), nil}
		if blocklog.Blocked(kind) {
			pair[1] = m.blocks.WithLabelValues(layer, string(kind), list)
		}
		c, _ = m.counters.LoadOrStore(key, pair)
	}
	pair := c.([2]prometheus.Counter)
	pair[0].Inc()
	if pair[1] != nil {
		pair[1].Inc()
	}
}

func (m *metrics) observeUpstream(upstream string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.upstream.WithLabelValues(upstream, result).Observe(took.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
