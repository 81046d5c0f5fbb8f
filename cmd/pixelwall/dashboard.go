package main

import (
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
			return listStatus(cfg, data, m)
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
// never succeeded), in the form blocklist's lists service reports it.
func listStatus(cfg *Config, data string, m *blocklist.Matcher) []blocklist.ListStatus {
	f := listFetcher(data)
	loaded := map[string]blocklist.ListStats{}
	for _, st := range m.Lists() {
		loaded[st.Name] = st
	}
	var out []blocklist.ListStatus
	for _, src := range blocklist.Defaults() {
		out = append(out, blocklist.ListStatus{Name: src.Name, Source: "embedded", Stats: loaded[src.Name]})
	}
	for _, l := range cfg.Lists {
		if l.Enabled != nil && !*l.Enabled {
			continue
		}
		st := blocklist.ListStatus{Name: l.Name, Source: l.Path, Stats: loaded[l.Name]}
		_, ok := loaded[l.Name]
		if l.URL != "" {
			st.Source = l.URL
			st.Meta, _ = f.Meta(l.Name)
			st.NextCheck = st.Meta.Checked.Add(refreshEvery(l, st.Meta))
		}
		switch {
		case ok && st.Meta.LastError != "":
			st.State, st.Reason = blocklist.ListStale, "the last download failed ("+st.Meta.LastError+"); the last good copy serves"
		case ok:
			st.State = blocklist.ListOK
		case l.URL == "":
			st.State, st.Reason = blocklist.ListMissing, "cannot read "+l.Path
			if _, err := os.Stat(l.Path); err != nil {
				st.Reason = err.Error()
			}
		case st.Meta.LastError != "":
			st.State, st.Reason = blocklist.ListFailed, st.Meta.LastError
		default:
			st.State, st.Reason = blocklist.ListNeverFetched, "not downloaded yet; the embedded lists serve meanwhile"
		}
		out = append(out, st)
	}
	return out
}
