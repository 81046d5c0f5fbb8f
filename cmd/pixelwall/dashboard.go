package main

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
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
	overrides *blocklist.Overrides, logger *slog.Logger) (*dashboard.Server, error) {
	host, _, _ := net.SplitHostPort(cfg.Dashboard.Listen)
	ip, err := netip.ParseAddr(host)
	loopback := host == "localhost" || err == nil && ip.IsLoopback()
	return dashboard.New(dashboard.Options{
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
		Lists: func() []blocklist.ListStatus {
			cfg, m := running()
			return listStatus(cfg, data, m, time.Now())
		},
		Proxy: proxyAddr(cfg.HTTP.Listen),
	})
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

// listStatus is the health of every configured list: those compiled into
// m, and those that could not be loaded (a missing file, a download that
// never succeeded).
func listStatus(cfg *Config, data string, m *blocklist.Matcher, now time.Time) []blocklist.ListStatus {
	f := listFetcher(data)
	byName := map[string]ListConfig{}
	for _, l := range cfg.Lists {
		byName[l.Name] = l
	}
	var out []blocklist.ListStatus
	loaded := map[string]bool{}
	for _, li := range listReport(cfg, data, m) {
		st := li.Stats
		loaded[st.Name] = true
		var ls blocklist.ListStatus
		switch l := byName[st.Name]; {
		case l.URL != "":
			ls = blocklist.URLListStatus(l.Name, l.URL, li.Meta, li.Cached, 3*refreshEvery(l, li.Meta), now)
		case l.Path != "":
			ls = blocklist.FileListStatus(l.Name, l.Path, nil, now)
		default:
			ls = blocklist.ListStatus{Name: st.Name, Source: li.Source, State: blocklist.StateOK}
		}
		ls.SetStats(st)
		out = append(out, ls)
	}
	for _, l := range cfg.Lists {
		if loaded[l.Name] || l.Enabled != nil && !*l.Enabled {
			continue
		}
		if l.URL != "" {
			meta, ok := f.Meta(l.Name)
			out = append(out, blocklist.URLListStatus(l.Name, l.URL, meta, ok, 3*refreshEvery(l, meta), now))
			continue
		}
		_, err := os.Stat(l.Path)
		if err == nil {
			err = errors.New("the file could not be loaded; see the log")
		}
		out = append(out, blocklist.FileListStatus(l.Name, l.Path, err, now))
	}
	return out
}
