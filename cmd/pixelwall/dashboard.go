package main

import (
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
	"github.com/pixelwall/pixelwall/proxy/dashboard"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// newDashboard wires the dashboard: the log to read, /metrics, list status,
// and allow actions that take effect at once.
func newDashboard(cfg *Config, proxyListen string, ptr *resolver.ClientNames, lists *blocklist.Service, learner *blocklist.Learner, blog *blocklog.Log, met *metrics, logger *slog.Logger) (*dashboard.Server, error) {
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
		Block:    func(b dashboard.BlockAction) error { return lists.Deny(b.Host) },
		Lists:    func() []blocklist.ListStatus { return listStatus(lists, learner) },
		Proxy:    proxyAddr(proxyListen),
		Warnings: cfg.OpenAccess(),
	}
	opts.Unallow = func(a dashboard.AllowAction) (int, error) {
		ov, err := a.Override(time.Now())
		if err != nil {
			return 0, err
		}
		return lists.Unallow(ov.Host, ov.Site, ov.Client)
	}
	opts.Pauses = dashboard.PauseControl{Pause: lists.Pause, Resume: lists.Resume, Pauses: lists.Pauses}
	// A client's name: the config's, else its PTR record through the
	// resolver (the router's names), else none.
	opts.ClientName = func(a netip.Addr) string {
		if n := lists.Policy().ClientName(a); n != "" || ptr == nil {
			return n
		}
		return ptr.NameOf(a)
	}
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

// listStatus is every list's status, and the learned rules as one more
// list when learning is on.
func listStatus(lists *blocklist.Service, learner *blocklist.Learner) []blocklist.ListStatus {
	ls := lists.Status()
	if learner != nil {
		rules := learner.Rules() // newest first
		st := blocklist.ListStatus{Name: blocklist.LearnedListName, Source: "learned from the pixel heuristic", State: blocklist.ListOK,
			Stats: blocklist.ListStats{Name: blocklist.LearnedListName, Format: blocklist.FormatAdblock, Blocking: len(rules)}}
		if len(rules) > 0 {
			st.Meta.Updated = rules[0].Learned
		}
		ls = append(ls, st)
	}
	return ls
}

// proxyAddr is the proxy address the setup steps show, "" when the proxy
// is off, listens on every interface, or its port is chosen at start.
func proxyAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return ""
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		return "" // every interface: the address clients use is not known here
	}
	return listen
}
