package main

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/certs"
	"github.com/pixelwall/pixelwall/proxy"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// This file turns the YAML config into the libraries' options.

// listsConfig is what the lists service compiles for cfg: the embedded
// lists and the config's (unless noDefaults), the extra list files, and the
// config's allow and deny.
func listsConfig(cfg *Config, extra []string, noDefaults bool) blocklist.Config {
	lc := blocklist.Config{NoDefaults: noDefaults, Extra: extra, Allow: cfg.Allow, Deny: cfg.Deny}
	lc.Groups, lc.Clients = groupsConfig(cfg)
	if noDefaults {
		return lc
	}
	for _, l := range cfg.Lists {
		if l.Enabled != nil && !*l.Enabled {
			continue
		}
		format, _ := blocklist.ParseFormat(l.Format) // checked when the config was loaded
		lc.Lists = append(lc.Lists, blocklist.ListConfig{Name: l.Name, URL: l.URL, Path: l.Path, Format: format,
			Refresh: time.Duration(l.Refresh)})
	}
	return lc
}

// newLists starts the lists service for cfg; client downloads the lists
// (nil: the Fetcher's own, for commands that run no resolver).
func newLists(cfg *Config, data string, client *http.Client, logger *slog.Logger, around func(func())) (*blocklist.Service, error) {
	return blocklist.NewService(listsConfig(cfg, nil, false), blocklist.ServiceOptions{
		Dir: data, Client: client, Logger: logger, AroundCompile: around, Backoff: fetchBackoff})
}

// fetchBackoff is the wait before retry n of a failed download (nil: the
// Fetcher's default); tests shorten it.
var fetchBackoff func(n int) time.Duration

// resolverOptions are the resolver's options for cfg (without Policy,
// Event and the like, which run sets).
func resolverOptions(cfg *Config) (resolver.Options, error) {
	d := cfg.DNS
	opts := resolver.Options{
		Strategy:     resolver.Strategy(d.Strategy),
		Timeout:      time.Duration(d.Timeout),
		BlockMode:    resolver.BlockMode(d.BlockMode),
		BlockTTL:     time.Duration(d.BlockTTL),
		RateLimit:    d.RateLimit,
		CacheSize:    d.CacheSize,
		NoPrefetch:   d.Prefetch != nil && !*d.Prefetch,
		NoServeStale: d.ServeStale != nil && !*d.ServeStale,
		LocalNames:   resolver.LocalNames(d.LocalNames),
		LocalAddrs:   resolver.ListenAddrs(d.Listen),
		AllowClients: networks(d.AllowClients),
	}
	ups := d.Upstreams
	if len(ups) == 0 {
		var err error
		if ups, err = resolver.SystemUpstreams(resolver.ResolvConf, d.Listen); err != nil {
			return opts, err
		}
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
		return opts, err
	}
	for domain, list := range d.DomainUpstreams {
		if opts.DomainUpstreams == nil {
			opts.DomainUpstreams = make(map[string][]resolver.Upstream)
		}
		if opts.DomainUpstreams[domain], err = parse("dns.domain_upstreams."+domain, list); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

// networks parses networks the config has checked.
func networks(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range list {
		p, _ := parseNetwork(c)
		out = append(out, p)
	}
	return out
}

// proxyOptions are the proxy's options for cfg (without Policy, Event and
// the like, which run sets).
func proxyOptions(cfg *Config, res proxy.Resolver) (proxy.Options, error) {
	h := cfg.HTTP
	opts := proxy.Options{
		Resolver:         res,
		Intercept:        proxy.Intercept(h.Intercept),
		InterceptHosts:   h.InterceptHosts,
		Referer:          proxy.RefererPolicy(h.Referer),
		NoGPC:            h.GPC != nil && !*h.GPC,
		NoHeuristic:      h.Heuristic != nil && !*h.Heuristic,
		AllowClients:     networks(h.AllowClients),
		DenyDestinations: networks(h.DenyDestinations),
		Passthrough:      append([]string(nil), h.Passthrough...),
	}
	for _, p := range h.ConnectPorts {
		opts.ConnectPorts = append(opts.ConnectPorts, uint16(p)) // checked with the config
	}
	if !h.NoDefaultPassthrough {
		opts.Passthrough = append(opts.Passthrough, proxy.DefaultPassthrough...)
	}
	roots, err := upstreamRoots(h.UpstreamCAFile)
	if err != nil {
		return opts, err
	}
	opts.Transport = proxy.NewTransport(proxy.TransportOptions{Resolver: res, RootCAs: roots, ResponseHeaderTimeout: time.Duration(h.UpstreamTimeout)})
	return opts, nil
}

// upstreamRoots are the system roots plus the PEM file's, or nil (the
// system roots) when there is no file.
func upstreamRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("http.upstream_ca_file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("http.upstream_ca_file %s: no PEM certificates in it", path)
	}
	return pool, nil
}

// loadCA loads (or on first run creates) the install's CA and its signer;
// nil when nothing is intercepted.
func loadCA(cfg *Config, data string) (*certs.CA, *certs.Signer, bool, error) {
	if cfg.HTTP.Intercept == "none" {
		return nil, nil, false, nil
	}
	ca, created, err := certs.LoadOrCreate(certs.Options{Dir: caDir(data)})
	if err != nil {
		return nil, nil, false, err
	}
	return ca, certs.NewSigner(ca, certs.SignerOptions{}), created, nil
}

func caDir(data string) string { return filepath.Join(data, "ca") }

// fetchClient downloads lists, resolving through res, so that a download
// never resolves in plaintext when the configured upstreams are encrypted.
func fetchClient(res proxy.Resolver) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: proxy.NewTransport(proxy.TransportOptions{Resolver: res})}
}

// standaloneResolver is a resolver core for commands that run no server
// (`lists update`): the configured upstreams, no policy.
func standaloneResolver(cfg *Config) (*resolver.Server, error) {
	opts, err := resolverOptions(cfg)
	if err != nil {
		return nil, err
	}
	none := blocklist.NewPolicy(blocklist.Compile(), nil, nil)
	opts.Policy = func() *blocklist.Policy { return none }
	opts.Logger = slog.New(slog.DiscardHandler)
	return resolver.New(opts)
}
