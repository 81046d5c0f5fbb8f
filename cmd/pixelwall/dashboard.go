package main

import (
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
	"github.com/pixelwall/pixelwall/proxy/dashboard"
)

func overridesPath(data string) string { return filepath.Join(data, "allow.jsonl") }

// newDashboard wires the dashboard: the log to read, /metrics, list status,
// and allow actions that take effect at once (and persist when "always").
// running says which config and lists are in use now (they change on
// reloads).
func newDashboard(cfg *Config, data string, running func() (*Config, *blocklist.Matcher), blog *blocklog.Log, met *metrics,
	overrides *blocklist.Overrides, learner *blocklist.Learner, logger *slog.Logger) (*dashboard.Server, error) {
	host, _, _ := net.SplitHostPort(cfg.Dashboard.Listen)
	ip, err := netip.ParseAddr(host)
	loopback := host == "localhost" || err == nil && ip.IsLoopback()
	opts := dashboard.Options{
		Log:          blog,
		Metrics:      met.handler(),
		PasswordHash: cfg.Dashboard.PasswordHash,
		Loopback:     loopback,
		Logger:       logger,
		Allow: func(a dashboard.AllowAction) error {
			ov := blocklist.Override{Host: a.Host}
			if a.Site != "" {
				ov.Site = blocklist.RegistrableDomain(a.Site) // www.shop.example: the whole site
			}
			if a.Client != "" {
				c, err := netip.ParseAddr(a.Client)
				if err != nil {
					return err
				}
				ov.Client = c
			}
			if a.For > 0 {
				ov.Until = time.Now().Add(a.For)
			}
			overrides.Add(ov)
			if a.For == 0 {
				return overrides.Save(overridesPath(data))
			}
			return nil
		},
		Lists: func() []dashboard.ListStatus {
			cfg, m := running()
			ls := listStatus(cfg, data, m)
			if learner != nil {
				rules := learner.Rules() // newest first
				st := dashboard.ListStatus{Name: blocklist.LearnedListName, Source: "learned from the pixel heuristic",
					Format: "adblock", Rules: len(rules)}
				if len(rules) > 0 {
					st.Updated = rules[0].Learned
				}
				ls = append(ls, st)
			}
			return ls
		},
	}
	if learner != nil {
		opts.Unlearn = learner.Unlearn
		opts.Learned = func() []dashboard.LearnedRule {
			var out []dashboard.LearnedRule
			for _, r := range learner.Rules() {
				out = append(out, dashboard.LearnedRule(r))
			}
			return out
		}
	}
	return dashboard.New(opts)
}

// listStatus describes the lists in use for the dashboard.
func listStatus(cfg *Config, data string, m *blocklist.Matcher) []dashboard.ListStatus {
	infos := listReport(cfg, data, m)
	out := make([]dashboard.ListStatus, 0, len(infos))
	for _, li := range infos {
		st := li.Stats
		ls := dashboard.ListStatus{Name: st.Name, Source: li.Source, Format: st.Format.String(), Rules: st.Rules(), BadLines: st.BadCount,
			Updated: li.Meta.Updated, Checked: li.Meta.Checked, LastError: li.Meta.LastError}
		for i, b := range st.Bad {
			if i == 3 {
				break
			}
			ls.FirstBad = append(ls.FirstBad, b.String())
		}
		out = append(out, ls)
	}
	return out
}
