package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/certs"
	"github.com/pixelwall/pixelwall/proxy"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// cmdRun starts every configured service and serves until ctx is done (or
// SIGINT/SIGTERM); SIGHUP reloads the config's lists, allow and deny.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	var common commonFlags
	common.register(fs)
	httpAddr := fs.String("http", "", "proxy listen `address` (overrides the config; off disables it)")
	dnsAddr := fs.String("dns", "", "DNS listen `address`, UDP and TCP (overrides the config; off disables it)")
	verbose := fs.Bool("v", false, "log debug messages")
	noRefresh := fs.Bool("no-refresh", false, "do not download or refresh url lists (use the cached copies)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	cfg, err := loadConfigOrDefault(common.config)
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		cfg.HTTP.Listen = *httpAddr
	}
	if *dnsAddr != "" {
		cfg.DNS.Listen = *dnsAddr
	}
	data := dataDir(common.data, cfg)
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	// SIGHUP is taken from the start: its default action ends the process,
	// and one may come as soon as a listener is announced (a reload, or
	// `pixelwall lists update`); it is acted on once everything runs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	m := compileLists(cfg, data, logger)
	// inUse is the config and lists the services run with; reloads change
	// it.
	var inUse atomic.Pointer[running]
	inUse.Store(&running{cfg, m})
	if cfg.HTTP.Listen == "off" && cfg.DNS.Listen == "off" {
		return errors.New("every service is off: nothing to run")
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go governMemory(ctx)
	serveErr := make(chan error, 3)

	blog, jsonCloser, err := openLog(cfg, data, stdout)
	if err != nil {
		return err
	}
	defer jsonCloser.Close()
	defer blog.Close()
	overrides := &blocklist.Overrides{}
	if err := overrides.Load(overridesPath(data)); err != nil {
		logger.Warn("saved allows not loaded", "err", err)
	}
	var dnsSrv *resolver.Server
	met := newMetrics(blog, func() *resolver.Server { return dnsSrv })
	record := recorder{log: blog, metrics: met, logger: logger, logAllowed: cfg.Log.LogAllowed}

	var p *proxy.Server
	var srv *http.Server
	if cfg.HTTP.Listen != "off" {
		if p, err = newProxy(cfg, data, m, logger, stdout, overrides, record.http); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("http proxy: %w", err)
		}
		srv = &http.Server{
			Handler:           p,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          proxy.ErrorLog(logger),
		}
		fmt.Fprintf(stdout, "http proxy listening on %s\n", ln.Addr())
		warnIfWide(logger, "http proxy", ln.Addr().String(), cfg.HTTP.AllowClients)
		go func() { serveErr <- fmt.Errorf("http proxy: %w", srv.Serve(ln)) }()
	}

	closeHTTP := func() {
		if srv != nil {
			srv.Close()
		}
	}
	dnsDone := make(chan struct{})
	if cfg.DNS.Listen != "off" {
		if dnsSrv, err = newResolver(cfg, m, logger, overrides, record.dns, met.observeUpstream); err != nil {
			closeHTTP()
			return err
		}
		udp, tcp, err := dnsSrv.Listen(cfg.DNS.Listen)
		if err != nil {
			closeHTTP()
			return err
		}
		fmt.Fprintf(stdout, "dns listening on %s (udp, tcp)\n", udp.LocalAddr())
		warnIfWide(logger, "dns", udp.LocalAddr().String(), cfg.DNS.AllowClients)
		go func() {
			defer close(dnsDone)
			if err := dnsSrv.Serve(ctx, udp, tcp); err != nil && ctx.Err() == nil {
				serveErr <- fmt.Errorf("dns: %w", err)
			}
		}()
	} else {
		close(dnsDone)
	}

	var upstreamFailures func() map[proxy.Cause]uint64
	if p != nil {
		upstreamFailures = p.UpstreamFailures
	}
	met.watchHealth(func() []blocklist.ListStatus { r := inUse.Load(); return listStatus(r.cfg, data, r.m) }, upstreamFailures)

	var dashSrv *http.Server
	if cfg.Dashboard.Listen != "off" {
		inUseNow := func() (*Config, *blocklist.Matcher) { r := inUse.Load(); return r.cfg, r.m }
		dash, err := newDashboard(cfg, data, inUseNow, blog, met, overrides, logger)
		if err != nil {
			closeHTTP()
			return err
		}
		dl, err := net.Listen("tcp", cfg.Dashboard.Listen)
		if err != nil {
			closeHTTP()
			return fmt.Errorf("dashboard: %w", err)
		}
		dashSrv = &http.Server{Handler: dash, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
		fmt.Fprintf(stdout, "dashboard listening on http://%s/\n", dl.Addr())
		go func() { serveErr <- fmt.Errorf("dashboard: %w", dashSrv.Serve(dl)) }()
	}

	// Lists change on SIGHUP (config edited, or `pixelwall lists update`)
	// and when the refresher downloads a new copy: compile off the hot path,
	// then swap the new matcher into every service.
	// reload compiles the lists of cfg, or of the config in use when cfg
	// is nil (looked up under the lock: a concurrent reload may bring a
	// newer one).
	var reloadMu sync.Mutex
	reload := func(cfg *Config) {
		reloadMu.Lock()
		defer reloadMu.Unlock()
		if cfg == nil {
			cfg = inUse.Load().cfg
		}
		newM := compileLists(cfg, data, logger)
		inUse.Store(&running{cfg, newM})
		if p != nil {
			p.SetMatcher(newM)
		}
		if dnsSrv != nil {
			dnsSrv.SetMatcher(newM)
		}
		logger.Info("lists reloaded")
	}
	refreshNow := make(chan struct{}, 1)
	if !*noRefresh {
		go refresher(ctx, func() *Config { return inUse.Load().cfg }, data, refreshNow, func() { reload(nil) }, logger)
	}
	if err := os.MkdirAll(data, 0o700); err == nil {
		if err := os.WriteFile(pidPath(data), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err == nil {
			defer os.Remove(pidPath(data))
		}
	}

	for {
		select {
		case err := <-serveErr:
			return err
		case <-hup:
			// Lists, allow and deny are swapped in without dropping a
			// connection; listener settings need a restart.
			newCfg, err := loadConfigOrDefault(common.config)
			if err != nil {
				logger.Error("reload: config not reloaded", "err", err)
				continue
			}
			reload(newCfg)
			select {
			case refreshNow <- struct{}{}:
			default:
			}
		case <-ctx.Done():
			shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var err error
			if srv != nil {
				err = srv.Shutdown(shutdown)
			}
			if dashSrv != nil {
				dashSrv.Shutdown(shutdown)
			}
			<-dnsDone
			fmt.Fprintln(stdout, "pixelwall stopped")
			return err
		}
	}
}

// warnIfWide says, when a listener is reachable beyond loopback, that only
// the configured clients are served.
func warnIfWide(logger *slog.Logger, service, addr string, allow []string) {
	if ap, err := netip.ParseAddrPort(addr); err == nil && !ap.Addr().IsLoopback() {
		logger.Info(service+" listens beyond loopback; only allow_clients are served", "allow_clients", allow)
	}
}

// memoryHeadroom is how far the Go runtime's memory may grow past what it
// holds after the lists are compiled (lists, log queue, buffers) before the
// garbage collector works harder to stay under it. GOGC alone lets the heap
// double: under 200 proxy connections that was 66 MiB of RSS. A lower GOGC
// would cap it too, but costs CPU at every load; the limit only bites when
// memory actually grows. (20 MiB made the collector run nearly without end
// under 200 connections.)
const memoryHeadroom = 30 << 20

// memoryFloor is the limit limitMemory computed after the last compile.
var memoryFloor atomic.Int64

// limitMemory sets the runtime's soft memory limit to what it holds now
// plus memoryHeadroom, unless GOMEMLIMIT is set. Called after each compile.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	s := []rtmetrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	rtmetrics.Read(s)
	memoryFloor.Store(int64(s[0].Value.Uint64()-s[1].Value.Uint64()) + memoryHeadroom)
	adjustMemoryLimit()
}

// adjustMemoryLimit keeps the limit at the floor, or higher when the live
// heap has grown (a DNS cache filling up, thousands of connections): the
// collector then runs as with GOGC=50 at worst, never without end, which a
// fixed limit under a grown live heap would make it do.
func adjustMemoryLimit() {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	live := int64(s[0].Value.Uint64())
	debug.SetMemoryLimit(max(memoryFloor.Load(), live+live/2+16<<20))
}

// governMemory re-adjusts the memory limit every few seconds until ctx is
// done (see adjustMemoryLimit).
func governMemory(ctx context.Context) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if memoryFloor.Load() > 0 {
				adjustMemoryLimit()
			}
		}
	}
}

func loadConfigOrDefault(path string) (*Config, error) {
	if path == "" {
		return defaultConfig(), nil
	}
	return loadConfig(path)
}

// running is a config and the lists compiled from it.
type running struct {
	cfg *Config
	m   *blocklist.Matcher
}

// compileLists builds the matcher from the config's lists, reporting lists
// that could not be read and bad lines.
func compileLists(cfg *Config, data string, logger *slog.Logger) *blocklist.Matcher {
	// Compiling makes much short-lived garbage, and on a reload the new
	// matcher is built beside the old one: collect often meanwhile, and
	// give the memory back afterwards, so that neither start-up nor a
	// reload inflates the process's footprint.
	gc := debug.SetGCPercent(20)
	defer func() {
		debug.SetGCPercent(gc)
		debug.FreeOSMemory()
		limitMemory()
	}()
	start := time.Now()
	srcs, warnings := listSources(cfg, data, nil, false)
	for _, w := range warnings {
		logger.Warn("list not loaded", "reason", w)
	}
	m := blocklist.Compile(srcs...)
	rules := 0
	for _, st := range m.Lists() {
		rules += st.Rules()
		if st.BadCount > 0 {
			first := ""
			if len(st.Bad) > 0 {
				first = st.Bad[0].String()
			}
			logger.Warn("list has bad lines (skipped; the rest loaded)", "list", st.Name, "bad", st.BadCount, "first", first)
		}
	}
	logger.Info("lists compiled", "lists", len(m.Lists()), "rules", rules, "took", time.Since(start).Round(time.Millisecond))
	return m
}

// newProxy sets up the CA and the proxy from the config.
func newProxy(cfg *Config, data string, m *blocklist.Matcher, logger *slog.Logger, stdout io.Writer, overrides *blocklist.Overrides, event func(proxy.Event)) (*proxy.Server, error) {
	h := cfg.HTTP
	opts := proxy.Options{
		Matcher:        m,
		Intercept:      proxy.Intercept(h.Intercept),
		InterceptHosts: h.InterceptHosts,
		Referer:        proxy.RefererPolicy(h.Referer),
		NoGPC:          h.GPC != nil && !*h.GPC,
		NoHeuristic:    h.Heuristic != nil && !*h.Heuristic,
		Logger:         logger,
		Event:          event,
		Overrides:      overrides,
	}
	for _, c := range h.AllowClients {
		p, _ := parseNetwork(c) // checked with the config
		opts.AllowClients = append(opts.AllowClients, p)
	}
	opts.Passthrough = append([]string(nil), h.Passthrough...)
	if !h.NoDefaultPassthrough {
		opts.Passthrough = append(opts.Passthrough, proxy.DefaultPassthrough...)
	}
	to := proxy.TransportOptions{Resolvers: plainUpstreams(cfg.DNS.Upstreams), ResponseHeaderTimeout: time.Duration(h.UpstreamTimeout)}
	if h.UpstreamCAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(h.UpstreamCAFile)
		if err != nil {
			return nil, fmt.Errorf("http.upstream_ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http.upstream_ca_file %s: no PEM certificates in it", h.UpstreamCAFile)
		}
		to.RootCAs = pool
	}
	opts.Transport = proxy.NewTransport(to)
	if h.Intercept != "none" {
		ca, created, err := certs.LoadOrCreate(certs.Options{Dir: caDir(data)})
		if err != nil {
			return nil, err
		}
		if created {
			fmt.Fprintf(stdout, "created a new CA for this install at %s: install it from http://%s/\n", ca.CertPath(), proxy.OwnHost)
		}
		opts.CA = ca
		opts.Signer = certs.NewSigner(ca, certs.SignerOptions{})
	}
	return proxy.New(opts)
}

func caDir(data string) string { return filepath.Join(data, "ca") }

// recorder sends every decision to the block log (blocks and strips
// stored, everything counted), the metrics, and the debug log.
type recorder struct {
	log        *blocklog.Log
	metrics    *metrics
	logger     *slog.Logger
	logAllowed bool
}

func (r recorder) http(e proxy.Event) {
	r.note(httpEntry(e))
}

func (r recorder) dns(e resolver.Event) {
	r.note(dnsEntry(e))
}

func (r recorder) note(e blocklog.Entry) {
	r.metrics.decision(e.Layer, e.Kind, e.List)
	switch {
	case e.Kind == "passed" && !r.logAllowed:
		r.log.Count(e.Layer, false) // counted for the charts, not stored
		return
	case e.Kind == "rate-limited":
		return // counted in metrics; storing a flood would only fill the log
	}
	r.log.Add(e) // stored entries are counted by the log itself
	if r.logger.Enabled(context.Background(), slog.LevelDebug) {
		r.logger.Debug(e.Layer+" "+e.Kind, "client", e.Client, "host", e.Host, "rule", e.Rule, "list", e.List)
	}
}
