package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// shutdownGrace is how long SIGTERM lets requests in flight finish.
const shutdownGrace = 10 * time.Second

// app is pixelwall's services, wired: the lists service and resolver core
// every other service reads, the block log, and the listeners of the
// configured ones.
type app struct {
	cfg           *Config // the config the services started with
	listenFlags   [3]string
	cfgPath, data string
	logger        *slog.Logger
	stdout        io.Writer
	mem           memoryGovernor

	lists   *blocklist.Service
	learner *blocklist.Learner // nil when http.learn is false
	res     *resolver.Server
	blog    *blocklog.Log
	json    io.Closer
	met     *metrics

	proxy   *proxy.Server
	httpSrv *http.Server
	httpLn  net.Listener
	dnsUDP  net.PacketConn
	dnsTCP  net.Listener
	dashSrv *http.Server
	dashLn  net.Listener

	firstRun bool // the CA was made now: say how to set up
}

// newApp builds every service of cfg and opens its listeners; close undoes
// it when serve is not called.
func newApp(cfg *Config, cfgPath, data string, logger *slog.Logger, stdout io.Writer) (_ *app, err error) {
	a := &app{cfg: cfg, cfgPath: cfgPath, data: data, logger: logger, stdout: stdout}
	a.mem.cap = cgroupMemoryCap
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.blog, a.json, err = openLog(cfg, data, stdout); err != nil {
		return nil, err
	}
	a.met = newMetrics(a.blog, func() *resolver.Server { return a.res })
	rec := recorder{log: a.blog, metrics: a.met, logger: logger, logAllowed: cfg.Log.LogAllowed}

	// The resolver core serves DNS clients, the proxy's dialer and the list
	// downloads; it reads the lists service's policy, which downloads
	// through it.
	ropts, err := resolverOptions(cfg)
	if err != nil {
		return nil, err
	}
	ropts.Policy = func() *blocklist.Policy { return a.lists.Policy() }
	ropts.Logger, ropts.Event, ropts.ObserveUpstream = logger, rec.dns, a.met.observeUpstream
	if a.res, err = resolver.New(ropts); err != nil {
		return nil, err
	}
	if a.lists, err = newLists(cfg, data, fetchClient(a.res), logger, a.mem.aroundCompile); err != nil {
		logger.Warn("lists service", "err", err)
	}

	if cfg.HTTP.Listen != "off" {
		a.learner = newLearner(cfg, data, a.lists, logger)
		if err := a.listenProxy(cfg, rec); err != nil {
			return nil, err
		}
	}
	if cfg.DNS.Listen != "off" {
		if a.dnsUDP, a.dnsTCP, err = a.res.Listen(cfg.DNS.Listen); err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
		fmt.Fprintf(stdout, "dns listening on %s (udp, tcp)\n", a.dnsUDP.LocalAddr())
		warnIfWide(logger, "dns", a.dnsUDP.LocalAddr().String(), cfg.DNS.AllowClients)
	}
	var upstreamFailures func() map[proxy.Cause]uint64
	if a.proxy != nil {
		upstreamFailures = a.proxy.UpstreamFailures
	}
	a.met.watchHealth(func() []blocklist.ListStatus { return listStatus(a.lists, a.learner) }, upstreamFailures)
	if cfg.Dashboard.Listen != "off" {
		proxyListen := ""
		if a.httpLn != nil {
			proxyListen = a.httpLn.Addr().String() // the real port when the config says 0
		}
		dash, err := newDashboard(cfg, proxyListen, a.res.NewClientNames(), a.lists, a.learner, a.blog, a.met, logger)
		if err != nil {
			return nil, err
		}
		if a.dashLn, err = net.Listen("tcp", cfg.Dashboard.Listen); err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		a.dashSrv = &http.Server{Handler: dash, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
		if a.proxy != nil {
			// Never served through the proxy but to loopback clients.
			a.proxy.SetAdminAddrs([]netip.AddrPort{a.dashLn.Addr().(*net.TCPAddr).AddrPort()})
		}
		fmt.Fprintf(stdout, "dashboard listening on http://%s/\n", a.dashLn.Addr())
	}
	if a.firstRun && a.httpLn != nil {
		a.printSetup()
	}
	return a, nil
}

// printSetup gives a new user the three steps, with the real addresses.
func (a *app) printSetup() {
	addr := a.httpLn.Addr().String()
	fmt.Fprintf(a.stdout, `
To start:
  1. Set your browser's or system's HTTP and HTTPS proxy to %[1]s
     (or automatic proxy configuration: http://%[1]s/proxy.pac).
  2. Open http://%[1]s/ and install the CA certificate it offers,
     so that HTTPS trackers can be blocked too.
`, addr)
	if a.dashLn != nil {
		fmt.Fprintf(a.stdout, "  3. See what is blocked at http://%s/\n", a.dashLn.Addr())
	}
	fmt.Fprintln(a.stdout)
}

// listenProxy sets up the CA and the proxy and opens its listener.
func (a *app) listenProxy(cfg *Config, rec recorder) error {
	opts, err := proxyOptions(cfg, a.res)
	if err != nil {
		return err
	}
	ca, signer, created, err := loadCA(cfg, a.data)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(a.stdout, "created a new CA for this install at %s\n", ca.CertPath())
		a.firstRun = true
	}
	opts.CA, opts.Signer = ca, signer
	opts.Policy, opts.Allow = a.lists.Policy, a.lists.Allow
	if a.learner != nil {
		opts.Learner = a.learner
	}
	opts.Logger, opts.Event = a.logger, rec.http
	if a.proxy, err = proxy.New(opts); err != nil {
		return err
	}
	if a.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return fmt.Errorf("http proxy: %w", err)
	}
	a.httpSrv = &http.Server{
		Handler:           a.proxy,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          proxy.ErrorLog(a.logger),
	}
	fmt.Fprintf(a.stdout, "http proxy listening on %s\n", a.httpLn.Addr())
	warnIfWide(a.logger, "http proxy", a.httpLn.Addr().String(), cfg.HTTP.AllowClients)
	return nil
}

// serve runs every service until ctx ends or one fails, reloading on hup.
// It stops them in order: the HTTP listeners drain their requests
// (intercepted HTTPS included) within shutdownGrace, then DNS stops, then
// the list refresher, and the block log is flushed and closed last.
func (a *app) serve(ctx context.Context, hup <-chan os.Signal, refresh bool) error {
	defer a.close()
	g, gctx := errgroup.WithContext(ctx)
	dnsCtx, stopDNS := context.WithCancel(context.Background())
	defer stopDNS()
	listsCtx, stopLists := context.WithCancel(context.Background())
	defer stopLists()

	serveHTTP := func(name string, srv *http.Server, ln net.Listener) {
		if srv == nil {
			return
		}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	serveHTTP("http proxy", a.httpSrv, a.httpLn)
	serveHTTP("dashboard", a.dashSrv, a.dashLn)
	if a.dnsUDP != nil {
		g.Go(func() error {
			if err := a.res.Serve(dnsCtx, a.dnsUDP, a.dnsTCP); err != nil && dnsCtx.Err() == nil {
				return fmt.Errorf("dns: %w", err)
			}
			if gctx.Err() == nil {
				return errors.New("dns: stopped serving")
			}
			return nil
		})
	}
	if refresh {
		go a.lists.Run(listsCtx)
	}
	go a.mem.run(listsCtx)
	defer a.writePID()()

	g.Go(func() error {
		for {
			select {
			case <-hup:
				a.reload()
				continue
			case <-gctx.Done():
			}
			break
		}
		shutdown, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		var errs []error
		if a.httpSrv != nil {
			errs = append(errs, a.httpSrv.Shutdown(shutdown), a.proxy.Shutdown(shutdown))
		}
		if a.dashSrv != nil {
			errs = append(errs, a.dashSrv.Shutdown(shutdown))
		}
		stopDNS()
		stopLists()
		if err := errors.Join(errs...); err != nil {
			a.logger.Warn("shutdown: the grace period ended with requests in flight", "err", err)
		}
		return nil
	})
	err := g.Wait()
	fmt.Fprintln(a.stdout, "pixelwall stopped")
	return err
}

// reload re-reads the config and swaps in its lists, allow and deny
// without dropping a connection, and picks up a regenerated CA. Settings
// that need a restart are named.
func (a *app) reload() {
	cfg, err := loadConfigOrDefault(a.cfgPath)
	if err == nil {
		err = cfg.overrideListen(a.listenFlags[0], a.listenFlags[1], a.listenFlags[2])
	}
	if err != nil {
		a.logger.Error("reload: config not reloaded", "err", err)
		return
	}
	if keys := restartKeys(a.cfg, cfg); len(keys) > 0 {
		a.logger.Warn("reload: these settings changed and take effect at the next start", "keys", strings.Join(keys, ", "))
	}
	a.lists.Reload(listsConfig(cfg, nil, false))
	a.lists.RefreshNow()
	if a.proxy != nil {
		if ca, signer, _, err := loadCA(cfg, a.data); err != nil {
			a.logger.Error("reload: CA not reloaded", "err", err)
		} else if ca != nil && !bytes.Equal(ca.CertDER(), a.proxy.CA().CertDER()) {
			a.proxy.SetCA(ca, signer)
			a.logger.Info("reload: signing with the regenerated CA", "fingerprint", ca.Fingerprint())
		}
	}
	a.logger.Info("lists reloaded")
}

// writePID records the process ID for `lists update` (and the dashboard's
// address for `pause`); the returned func removes them.
func (a *app) writePID() func() {
	if err := os.MkdirAll(a.data, 0o700); err != nil {
		return func() {}
	}
	if err := os.WriteFile(pidPath(a.data), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return func() {}
	}
	removeAddr := a.writeDashboardAddr()
	return func() { os.Remove(pidPath(a.data)); removeAddr() }
}

// close releases what newApp opened, the block log last (flushing it).
func (a *app) close() {
	if a.learner != nil {
		a.learner.Save() // last-used times are otherwise saved only now and then
	}
	for _, c := range []io.Closer{a.httpLn, a.dashLn, a.dnsTCP, a.dnsUDP} {
		if c != nil {
			c.Close()
		}
	}
	if a.blog != nil {
		a.blog.Close()
	}
	if a.json != nil {
		a.json.Close()
	}
}

// recorder sends every decision to the block log (blocks and strips
// stored, everything counted), the metrics, and the debug log.
type recorder struct {
	log        *blocklog.Log
	metrics    *metrics
	logger     *slog.Logger
	logAllowed bool
}

func (r recorder) http(e proxy.Event)   { r.note(httpEntry(e)) }
func (r recorder) dns(e resolver.Event) { r.note(dnsEntry(e)) }

func (r recorder) note(e blocklog.Entry) {
	r.metrics.decision(e.Layer, e.Kind, e.List)
	switch {
	case e.Kind == blocklog.KindPassed && !r.logAllowed:
		r.log.Count(e.Layer, false) // counted for the charts, not stored
		return
	case e.Kind == blocklog.KindRateLimited:
		return // counted in metrics; storing a flood would only fill the log
	}
	r.log.Add(e) // stored entries are counted by the log itself
	if r.logger.Enabled(context.Background(), slog.LevelDebug) {
		r.logger.Debug(e.Layer+" "+string(e.Kind), "client", e.Client, "host", e.Host, "rule", e.Rule, "list", e.List)
	}
}
