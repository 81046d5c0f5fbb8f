package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// defaultRefresh is how often a list without its own hint is checked.
const defaultRefresh = 24 * time.Hour

// fetchBackoff is the wait before retry n of a failed download (nil: the
// Fetcher's default, 2^n seconds); tests shorten it.
var fetchBackoff func(n int) time.Duration

func listFetcher(data string) *blocklist.Fetcher {
	return &blocklist.Fetcher{Dir: filepath.Join(data, "lists"), Backoff: fetchBackoff}
}

// urlLists are the enabled lists with a url.
func urlLists(cfg *Config) []ListConfig {
	var out []ListConfig
	for _, l := range cfg.Lists {
		if l.URL != "" && (l.Enabled == nil || *l.Enabled) {
			out = append(out, l)
		}
	}
	return out
}

// refreshEvery is how often a list is checked.
func refreshEvery(l ListConfig, meta blocklist.FetchMeta) time.Duration {
	switch {
	case l.Refresh > 0:
		return time.Duration(l.Refresh)
	case meta.Expires > 0:
		return meta.Expires
	}
	return defaultRefresh
}

// cmdLists is `pixelwall lists show|update`.
func cmdLists(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lists", stderr)
	var common commonFlags
	common.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "show" && fs.Arg(0) != "update" {
		return usageError{fmt.Errorf("want show or update")}
	}
	cfg, err := loadConfigOrDefault(common.config)
	if err != nil {
		return err
	}
	data := dataDir(common.data, cfg)
	if fs.Arg(0) == "update" {
		return listsUpdate(ctx, cfg, data, stdout)
	}
	return listsShow(cfg, data, stdout)
}

// listsUpdate downloads every url list now, a progress line each, and tells
// a running pixelwall to reload.
func listsUpdate(ctx context.Context, cfg *Config, data string, stdout io.Writer) error {
	f := listFetcher(data)
	lists := urlLists(cfg)
	if len(lists) == 0 {
		fmt.Fprintln(stdout, "no lists with a url to update")
		return nil
	}
	failed := 0
	for _, l := range lists {
		format, _ := blocklist.ParseFormat(l.Format)
		fmt.Fprintln(stdout, fetchLine(f.Fetch(ctx, l.Name, l.URL, format)))
	}
	for _, l := range lists {
		if m, _ := f.Meta(l.Name); m.LastError != "" {
			failed++
		}
	}
	if pid, ok := runningPID(data); ok {
		// os.Process.Signal, not syscall.Kill: it builds everywhere (and
		// fails on Windows, which has no SIGHUP).
		if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.SIGHUP) == nil {
			fmt.Fprintf(stdout, "told the running pixelwall (pid %d) to reload\n", pid)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d lists could not be updated (their last good copies stay)", failed, len(lists))
	}
	return nil
}

// fetchLine is one progress line: bytes, rules, bad lines, time.
func fetchLine(r blocklist.FetchResult) string {
	m := r.Meta
	switch r.Status {
	case blocklist.FetchUpdated:
		return fmt.Sprintf("%s: updated, %s, %d rules, %d bad lines, %v", r.Name, humanBytes(m.Bytes), m.Rules, m.BadLines, r.Took.Round(time.Millisecond))
	case blocklist.FetchNotModified:
		return fmt.Sprintf("%s: unchanged, %s, %d rules, %v", r.Name, humanBytes(m.Bytes), m.Rules, r.Took.Round(time.Millisecond))
	}
	if m.Updated.IsZero() {
		return fmt.Sprintf("%s: FAILED, no copy yet (the embedded lists serve meanwhile): %v", r.Name, r.Err)
	}
	return fmt.Sprintf("%s: FAILED, keeping the copy from %s: %v", r.Name, m.Updated.Format("2006-01-02 15:04"), r.Err)
}

// listInfo is what is known about one compiled list.
type listInfo struct {
	Stats  blocklist.ListStats
	Source string // embedded, a URL, a path, or "config allow:"/"config deny:"
	Config ListConfig
	Meta   blocklist.FetchMeta // for url lists that have been downloaded
	Cached bool
}

// listReport describes each list of m, compiled from cfg, for `lists show`
// and the dashboard.
func listReport(cfg *Config, data string, m *blocklist.Matcher) []listInfo {
	f := listFetcher(data)
	byName := map[string]ListConfig{}
	for _, l := range cfg.Lists {
		byName[l.Name] = l
	}
	var out []listInfo
	for _, st := range m.Lists() {
		l, configured := byName[st.Name]
		info := listInfo{Stats: st, Source: "embedded", Config: l}
		switch {
		case l.URL != "":
			info.Source = l.URL
			info.Meta, info.Cached = f.Meta(l.Name)
		case l.Path != "":
			info.Source = l.Path
		case !configured && (st.Name == "allow" || st.Name == "deny"):
			info.Source = "config " + st.Name + ":"
		}
		out = append(out, info)
	}
	return out
}

// listsShow prints, per list, its source, rules by kind, bad lines, last
// update and next refresh.
func listsShow(cfg *Config, data string, w io.Writer) error {
	srcs, warnings := listSources(cfg, data, nil, false)
	infos := listReport(cfg, data, blocklist.Compile(srcs...))
	for _, li := range infos {
		st := li.Stats
		fmt.Fprintf(w, "%s  (%s, %s)\n", st.Name, li.Source, st.Format)
		fmt.Fprintf(w, "  rules: %d  (%s)\n", st.Rules(), ruleKinds(st))
		if st.Cosmetic+st.Inert > 0 {
			fmt.Fprintf(w, "  skipped: %d cosmetic, %d with options not acted on%s\n", st.Cosmetic, st.Inert, inertDetail(st))
		}
		if st.BadCount > 0 {
			fmt.Fprintf(w, "  bad lines: %d\n", st.BadCount)
			for i, b := range st.Bad {
				if i == 5 {
					break
				}
				fmt.Fprintf(w, "    %s\n", b)
			}
		}
		if li.Cached {
			next := li.Meta.Checked.Add(refreshEvery(li.Config, li.Meta))
			fmt.Fprintf(w, "  updated: %s  checked: %s  next refresh: %s\n", stamp(li.Meta.Updated), stamp(li.Meta.Checked), stamp(next))
			if li.Meta.LastError != "" {
				fmt.Fprintf(w, "  last error: %s\n", li.Meta.LastError)
			}
		}
	}
	for _, warn := range warnings {
		fmt.Fprintf(w, "not loaded: %s\n", warn)
	}
	return nil
}

func ruleKinds(st blocklist.ListStats) string {
	var parts []string
	for _, k := range []struct {
		n    int
		name string
	}{{st.Hostnames - st.Duplicates, "hostnames"}, {st.Blocking, "blocking"}, {st.Exceptions, "exceptions"},
		{st.Important, "important"}, {st.RemoveParam, "removeparam"}, {st.Redirect, "redirect-rule"}} {
		if k.n > 0 {
			parts = append(parts, strconv.Itoa(k.n)+" "+k.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func inertDetail(st blocklist.ListStats) string {
	if len(st.InertOptions) == 0 {
		return ""
	}
	var names []string
	for k, n := range st.InertOptions {
		names = append(names, k+" "+strconv.Itoa(n))
	}
	sort.Strings(names)
	return " (" + strings.Join(names, ", ") + ")"
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// pidPath is where run records its process ID for `lists update`.
func pidPath(data string) string { return filepath.Join(data, "pixelwall.pid") }

// runningPID finds a running pixelwall from its pid file, checking that the
// process really is one (a stale file may name a recycled PID).
func runningPID(data string) (int, bool) {
	b, err := os.ReadFile(pidPath(data))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "pixelwall") {
		return 0, false
	}
	return pid, true
}

// refresher checks url lists on their schedule (and when asked) and calls
// reload when one changed. It runs until ctx is done.
func refresher(ctx context.Context, cfgFn func() *Config, data string, now chan struct{}, reload func(), logger *slog.Logger) {
	f := listFetcher(data)
	for {
		cfg := cfgFn()
		lists := urlLists(cfg)
		wait := defaultRefresh
		changed := false
		for _, l := range lists {
			meta, ok := f.Meta(l.Name)
			due := meta.Checked.Add(refreshEvery(l, meta))
			if ok && time.Now().Before(due) {
				wait = min(wait, time.Until(due))
				continue
			}
			format, _ := blocklist.ParseFormat(l.Format)
			r := f.Fetch(ctx, l.Name, l.URL, format)
			if ctx.Err() != nil {
				return
			}
			if r.Err != nil {
				logger.Warn("list update failed; the last good copy stays", "list", l.Name, "err", r.Err)
				wait = min(wait, 30*time.Minute) // try again sooner
			} else {
				logger.Info("list checked", "list", l.Name, "status", r.Status, "rules", r.Meta.Rules, "took", r.Took.Round(time.Millisecond))
				wait = min(wait, refreshEvery(l, r.Meta))
			}
			changed = changed || r.Status == blocklist.FetchUpdated
		}
		if changed {
			reload()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, time.Minute)):
		case <-now:
			// SIGHUP or `lists update`: ask every server now (conditionally:
			// an unchanged list costs a 304).
			for _, l := range lists {
				f.MarkDue(l.Name)
			}
		}
	}
}
