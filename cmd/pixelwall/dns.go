package main

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// resolvConf is where the system's resolvers are read from.
var resolvConf = "/etc/resolv.conf"

// newResolver sets up the DNS server from the config. It never forwards to
// its own listen address.
func newResolver(cfg *Config, m *blocklist.Matcher, logger *slog.Logger, overrides *blocklist.Overrides,
	event func(resolver.Event), observe func(string, time.Duration, error)) (*resolver.Server, error) {
	d := cfg.DNS
	ups := d.Upstreams
	if len(ups) == 0 {
		var err error
		if ups, err = systemResolvers(d.Listen); err != nil {
			return nil, err
		}
	}
	opts := resolver.Options{
		Matcher:         m,
		Strategy:        resolver.Strategy(d.Strategy),
		Timeout:         time.Duration(d.Timeout),
		BlockMode:       resolver.BlockMode(d.BlockMode),
		BlockTTL:        time.Duration(d.BlockTTL),
		RateLimit:       d.RateLimit,
		CacheSize:       d.CacheSize,
		NoPrefetch:      d.Prefetch != nil && !*d.Prefetch,
		NoServeStale:    d.ServeStale != nil && !*d.ServeStale,
		LocalNames:      resolver.LocalNames(d.LocalNames),
		LocalAddrs:      localAddrs(d.Listen),
		Logger:          logger,
		Event:           event,
		ObserveUpstream: observe,
		Overrides:       overrides,
	}
	for _, c := range d.AllowClients {
		p, _ := parseNetwork(c) // checked with the config
		opts.AllowClients = append(opts.AllowClients, p)
	}
	parse := func(key string, list []string) ([]resolver.Upstream, error) {
		var out []resolver.Upstream
		for _, u := range list {
			up, err := resolver.ParseUpstream(u, resolver.UpstreamOptions{Timeout: opts.Timeout})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			out = append(out, up)
		}
		return out, nil
	}
	var err error
	if opts.Upstreams, err = parse("dns.upstreams", ups); err != nil {
		return nil, err
	}
	for domain, list := range d.DomainUpstreams {
		if opts.DomainUpstreams == nil {
			opts.DomainUpstreams = make(map[string][]resolver.Upstream)
		}
		if opts.DomainUpstreams[domain], err = parse("dns.domain_upstreams."+domain, list); err != nil {
			return nil, err
		}
	}
	return resolver.New(opts)
}

// systemResolvers reads the nameservers of /etc/resolv.conf, leaving out
// our own address.
func systemResolvers(self string) ([]string, error) {
	f, err := os.Open(resolvConf)
	if err != nil {
		return nil, fmt.Errorf("dns.upstreams is empty and the system resolvers are unknown: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		addr := net.JoinHostPort(strings.SplitN(fields[1], "%", 2)[0], "53")
		if addr == self {
			continue
		}
		out = append(out, addr)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dns.upstreams is empty and %s lists no nameserver other than pixelwall", resolvConf)
	}
	return out, nil
}

// localAddrs are the addresses pixelwall.internal resolves to: the listen
// address, or for a wildcard listener this host's unicast addresses.
func localAddrs(listen string) []netip.Addr {
	host, _, _ := net.SplitHostPort(listen)
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		return []netip.Addr{a}
	}
	var out []netip.Addr
	ifaddrs, _ := net.InterfaceAddrs()
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().IsGlobalUnicast() {
			out = append(out, p.Addr())
		}
	}
	if len(out) == 0 {
		out = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	return out
}

// plainUpstreams are the upstreams the proxy's Go resolver can use itself.
func plainUpstreams(ups []string) []string {
	var out []string
	for _, u := range ups {
		if !strings.Contains(u, "://") || strings.HasPrefix(u, "udp://") || strings.HasPrefix(u, "tcp://") {
			u = strings.TrimPrefix(strings.TrimPrefix(u, "udp://"), "tcp://")
			if _, _, err := net.SplitHostPort(u); err != nil {
				u = net.JoinHostPort(strings.Trim(u, "[]"), "53")
			}
			out = append(out, u)
		}
	}
	return out
}
