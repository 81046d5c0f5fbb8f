package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
)

// cmdRun starts every configured service and serves until ctx is done (or
// SIGINT/SIGTERM); SIGHUP reloads the config's lists, allow and deny.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stdout)
	var common commonFlags
	common.register(fs)
	httpAddr := fs.String("http", "", "proxy listen `address` (overrides the config; off disables it)")
	dnsAddr := fs.String("dns", "", "DNS listen `address`, UDP and TCP (overrides the config; off disables it)")
	dashAddr := fs.String("dashboard", "", "dashboard listen `address` (overrides the config; off disables it)")
	verbose := fs.Bool("v", false, "log debug messages")
	noRefresh := fs.Bool("no-refresh", false, "do not download or refresh url lists (use the cached copies)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", pos)}
	}
	cfg, err := loadConfigOrDefault(common.config)
	if err != nil {
		return err
	}
	if err := cfg.overrideListen(*httpAddr, *dnsAddr, *dashAddr); err != nil {
		return usageError{err}
	}
	if cfg.HTTP.Listen == "off" && cfg.DNS.Listen == "off" {
		return errors.New("every service is off: nothing to run")
	}
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

	a, err := newApp(cfg, common.config, dataDir(common.data, cfg), logger, stdout)
	if err != nil {
		return err
	}
	a.listenFlags = [3]string{*httpAddr, *dnsAddr, *dashAddr}
	return a.serve(ctx, hup, !*noRefresh)
}

// warnIfWide says, when a listener is reachable beyond loopback, that only
// the configured clients are served.
func warnIfWide(logger *slog.Logger, service, addr string, allow []string) {
	if open := worldOpen(allow); len(open) > 0 {
		logger.Warn("OPEN ACCESS: "+service+" serves every address that reaches it", "listen", addr, "allow_clients", open)
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil && !ap.Addr().IsLoopback() {
		logger.Info(service+" listens beyond loopback; only allow_clients are served", "allow_clients", allow)
	}
}

func loadConfigOrDefault(path string) (*Config, error) {
	if path == "" {
		return defaultConfig(), nil
	}
	return loadConfig(path)
}

// restartKeys are the settings that differ between old and new that a
// reload does not apply: all but the lists, allow and deny.
func restartKeys(old, new *Config) []string {
	var keys []string
	var walk func(prefix string, a, b reflect.Value)
	walk = func(prefix string, a, b reflect.Value) {
		for i := range a.NumField() {
			f := a.Type().Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if prefix == "" && (key == "lists" || key == "allow" || key == "deny") {
				continue
			}
			if prefix != "" {
				key = prefix + "." + key
			}
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(key, a.Field(i), b.Field(i))
			case !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()):
				keys = append(keys, key)
			}
		}
	}
	walk("", reflect.ValueOf(*old), reflect.ValueOf(*new))
	return keys
}
