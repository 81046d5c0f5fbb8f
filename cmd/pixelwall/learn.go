package main

import (
	"log/slog"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

func learnedPath(data string) string { return filepath.Join(data, "learned.json") }

// learnedStatus is the learned list as the lists service reports the
// others, read from data without changing it, when learning is on.
func learnedStatus(cfg *Config, data string) (blocklist.ListStatus, bool) {
	if !learnOn(cfg) {
		return blocklist.ListStatus{}, false
	}
	src, err := blocklist.ReadLearnedSource(learnedPath(data), time.Now())
	st := blocklist.ListStatus{Name: blocklist.LearnedListName, Source: "learned from the pixel heuristic (" + learnedPath(data) + ")",
		Stats: blocklist.Compile(src).Lists()[0]}
	if err != nil {
		st.Reason = err.Error()
	}
	return st, true
}

// withLearned adds the learned rules saved in data to lc, when learning is
// on, so that `check` says what the running proxy does.
func withLearned(cfg *Config, data string, lc blocklist.Config) (blocklist.Config, error) {
	if !learnOn(cfg) {
		return lc, nil
	}
	src, err := blocklist.ReadLearnedSource(learnedPath(data), time.Now())
	lc.Sources = append(lc.Sources, src)
	return lc, err
}

// learnOn reports whether http.learn leaves learning on (the default).
func learnOn(cfg *Config) bool { return cfg.HTTP.Learn == nil || *cfg.HTTP.Learn }

// newLearner is the learner of rules from the pixel heuristic, or nil when
// http.learn is false. A host allowed for every client, from the dashboard
// or the config's allow:, is never learned.
func newLearner(cfg *Config, data string, lists *blocklist.Service, logger *slog.Logger) *blocklist.Learner {
	if !learnOn(cfg) {
		return nil
	}
	l, err := blocklist.NewLearner(blocklist.LearnerOptions{
		Path:   learnedPath(data),
		Logger: logger,
		Allowed: func(host string) bool {
			_, ok := lists.Policy().Allowed(netip.Addr{}, host, "")
			return ok
		},
		OnChange: lists.SetLearned, // published with the lists, as one policy
	})
	if err != nil {
		logger.Warn("learned rules not loaded; learning goes on", "err", err)
	}
	lists.SetLearned(l.Matcher())
	return l
}
