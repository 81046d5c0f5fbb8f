package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pixelwall/pixelwall/proxy/dashboard"
)

// dashboardAddrPath is where run records the dashboard's address (the real
// port when the config says port 0) for `pause` and `resume`.
func dashboardAddrPath(data string) string { return filepath.Join(data, "dashboard.addr") }

// writeDashboardAddr records the dashboard's address; the returned func
// removes it.
func (a *app) writeDashboardAddr() func() {
	if a.dashLn == nil {
		return func() {}
	}
	if err := os.WriteFile(dashboardAddrPath(a.data), []byte(a.dashLn.Addr().String()+"\n"), 0o600); err != nil {
		return func() {}
	}
	return func() { os.Remove(dashboardAddrPath(a.data)) }
}

// passwordEnv holds the dashboard password for the commands that use its
// API, when the dashboard has one.
const passwordEnv = "PIXELWALL_PASSWORD"

// cmdPause is `pixelwall pause` and `pixelwall resume`: they ask the
// running instance through the dashboard's JSON API.
func cmdPause(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stdout)
	var common commonFlags
	common.register(fs)
	client := fs.String("client", "", "a client `name` from clients:, or an address")
	group := fs.String("group", "", "a group `name` from groups:, or default")
	site := fs.String("site", "", "a site (`domain`): requests to it and from its pages")
	var until string
	if name == "pause" {
		fs.StringVar(&until, "until", "", "pause until this `time` (RFC 3339, or 15:04 for the next such time of day) instead of for a DURATION")
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	req := dashboard.PauseRequest{Scope: "all"}
	set := 0
	for _, f := range []struct{ scope, value string }{{"client", *client}, {"group", *group}, {"site", *site}} {
		if f.value != "" {
			req.Scope, req.Name = f.scope, f.value
			set++
		}
	}
	if set > 1 {
		return usageError{errors.New("give at most one of -client, -group and -site")}
	}
	switch {
	case name == "resume" && len(pos) > 0:
		return usageError{fmt.Errorf("resume takes no arguments, got %q", pos[0])}
	case name == "pause" && len(pos) > 1, name == "pause" && len(pos) == 1 && until != "":
		return usageError{errors.New("want one DURATION or -until TIME (or neither: until resumed)")}
	case until != "":
		t, err := parseUntil(until, time.Now())
		if err != nil {
			return usageError{err}
		}
		req.Until = t
	case name == "pause" && len(pos) == 1:
		d, err := parseDuration(pos[0])
		if err != nil || d <= 0 {
			return usageError{fmt.Errorf("duration %q: want a positive duration such as 30m, 1h or 1d", pos[0])}
		}
		req.For = d.String()
	}
	cfg, err := loadCommonConfig(common.config)
	if err != nil {
		return err
	}
	addr := cfg.Dashboard.Listen
	if b, err := os.ReadFile(dashboardAddrPath(dataDir(common.data, cfg))); err == nil {
		addr = strings.TrimSpace(string(b))
	}
	if addr == "off" || addr == "" {
		return errors.New("the dashboard is off: pause and resume talk to the running pixelwall through it")
	}
	var out map[string]any
	if err := callAPI(ctx, addr, "/api/"+name, req, &out); err != nil {
		return err
	}
	if name == "resume" {
		fmt.Fprintf(stdout, "resumed %v pause(s)\n", out["resumed"])
		return nil
	}
	what := "everything"
	if req.Scope != "all" {
		what = req.Scope + " " + fmt.Sprint(out["name"])
	}
	if until, ok := out["until"].(string); ok {
		fmt.Fprintf(stdout, "paused %s until %s\n", what, until)
	} else {
		fmt.Fprintf(stdout, "paused %s until resumed\n", what)
	}
	return nil
}

// parseUntil reads -until: an RFC 3339 time, or a local time of day
// (15:04), meaning its next occurrence after now.
func parseUntil(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !t.After(now) {
			return t, fmt.Errorf("-until %s is already past", s)
		}
		return t, nil
	}
	hm, err := time.ParseInLocation("15:04", s, now.Location())
	if err != nil {
		return time.Time{}, fmt.Errorf("-until %q: want an RFC 3339 time (2026-12-24T18:00:00Z) or a time of day (18:00)", s)
	}
	t := time.Date(now.Year(), now.Month(), now.Day(), hm.Hour(), hm.Minute(), 0, 0, now.Location())
	if !t.After(now) {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// loadCommonConfig reads -config, or the defaults without one.
func loadCommonConfig(path string) (*Config, error) {
	if path == "" {
		return defaultConfig(), nil
	}
	return loadConfig(path)
}

// callAPI posts body as JSON to the dashboard at addr and decodes the
// answer into out; the password comes from $PIXELWALL_PASSWORD.
func callAPI(ctx context.Context, addr, path string, body, out any) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dashboard address %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+net.JoinHostPort(host, port)+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if pw := os.Getenv(passwordEnv); pw != "" {
		req.SetBasicAuth("pixelwall", pw)
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return fmt.Errorf("is pixelwall running? %w", err)
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			if resp.StatusCode == http.StatusUnauthorized {
				return fmt.Errorf("%s (set $%s)", e.Error, passwordEnv)
			}
			return errors.New(e.Error)
		}
		return fmt.Errorf("the dashboard answered %s", resp.Status)
	}
	return json.Unmarshal(raw, out)
}
