package main

import (
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

func learnedPath(data string) string { return filepath.Join(data, "learned.json") }

// withLearned adds the learned rules saved in data to srcs, when learning
// is on, so that reports and `check` say what the running proxy does.
func withLearned(cfg *Config, data string, srcs []blocklist.Source, warnings []string) ([]blocklist.Source, []string) {
	if !learnOn(cfg) {
		return srcs, warnings
	}
	src, err := blocklist.ReadLearnedSource(learnedPath(data), time.Now())
	if err != nil {
		warnings = append(warnings, err.Error())
	}
	return append(srcs, src), warnings
}

// learnOn reports whether http.learn leaves learning on (the default).
func learnOn(cfg *Config) bool { return cfg.HTTP.Learn == nil || *cfg.HTTP.Learn }

// newLearner is the learner of rules from the pixel heuristic, or nil when
// http.learn is false. A host allowed for every client, from the dashboard
// or the config's allow: (of the config in use), is never learned.
func newLearner(cfg *Config, data string, overrides *blocklist.Overrides, current func() *Config, logger *slog.Logger) *blocklist.Learner {
	if !learnOn(cfg) {
		return nil
	}
	l, err := blocklist.NewLearner(blocklist.LearnerOptions{
		Path:   learnedPath(data),
		Logger: logger,
		Allowed: func(host string) bool {
			if _, ok := overrides.Allowed(netip.Addr{}, host, ""); ok {
				return true
			}
			for _, a := range current().Allow {
				a = strings.TrimSuffix(strings.ToLower(a), ".")
				if host == a || strings.HasSuffix(host, "."+a) {
					return true
				}
			}
			return false
		},
	})
	if err != nil {
		logger.Warn("learned rules not loaded; learning goes on", "err", err)
	}
	return l
}
