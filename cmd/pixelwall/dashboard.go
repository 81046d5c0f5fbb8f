package main

import (
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
	"github.com/pixelwall/pixelwall/proxy/dashboard"
)

// newDashboard wires the dashboard: the log to read, /metrics, list status,
// and allow actions that take effect at once.
func newDashboard(cfg *Config, lists *blocklist.Service, learner *blocklist.Learner, blog *blocklog.Log, met *metrics, logger *slog.Logger) (*dashboard.Server, error) {
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
			ov, err := a.Override(time.Now())
			if err != nil {
				return err
			}
			return lists.Allow(ov)
		},
		Lists: func() []dashboard.ListStatus {
			ls := listStatus(lists.Status())
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
	opts.Unallow = func(a dashboard.AllowAction) (int, error) {
		ov, err := a.Override(time.Now())
		if err != nil {
			return 0, err
		}
		return lists.Unallow(ov.Host, ov.Site, ov.Client)
	}
	opts.Pauses = dashboard.PauseControl{Pause: lists.Pause, Resume: lists.Resume, Pauses: lists.Pauses}
	opts.ClientName = func(a netip.Addr) string { return lists.Policy().ClientName(a) }
	opts.Clients = func() []dashboard.ClientInfo {
		var out []dashboard.ClientInfo
		for _, c := range lists.Policy().Clients() {
			ci := dashboard.ClientInfo{Name: c.Name, Group: c.Group}
			for _, p := range c.Prefixes {
				ci.Addresses = append(ci.Addresses, p.String())
			}
			out = append(out, ci)
		}
		return out
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

// listStatus describes the lists for the dashboard.
func listStatus(status []blocklist.ListStatus) []dashboard.ListStatus {
	out := make([]dashboard.ListStatus, 0, len(status))
	for _, ls := range status {
		st := ls.Stats
		d := dashboard.ListStatus{Name: ls.Name, Source: ls.Source, Format: st.Format.String(), Rules: st.Rules(), BadLines: st.BadCount,
			Updated: ls.Meta.Updated, Checked: ls.Meta.Checked, LastError: ls.Reason}
		for i, b := range st.Bad {
			if i == 3 {
				break
			}
			d.FirstBad = append(d.FirstBad, b.String())
		}
		out = append(out, d)
	}
	return out
}
