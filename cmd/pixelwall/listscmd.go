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

// cmdLists is `pixelwall lists show|update`.
func cmdLists(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lists", stdout)
	var common commonFlags
	common.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "show" && pos[0] != "update" {
		return usageError{fmt.Errorf("want show or update")}
	}
	cfg, err := loadConfigOrDefault(common.config)
	if err != nil {
		return err
	}
	data := dataDir(common.data, cfg)
	if pos[0] == "update" {
		return listsUpdate(ctx, cfg, data, stdout)
	}
	return listsShow(cfg, data, stdout)
}

// listsUpdate downloads every url list now, a progress line each, and tells
// a running pixelwall to reload.
func listsUpdate(ctx context.Context, cfg *Config, data string, stdout io.Writer) error {
	res, err := standaloneResolver(cfg)
	if err != nil {
		return err
	}
	lists, err := newLists(cfg, data, fetchClient(res), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	results := lists.Update(ctx)
	if len(results) == 0 {
		fmt.Fprintln(stdout, "no lists with a url to update")
		return nil
	}
	failed := 0
	for _, r := range results {
		fmt.Fprintln(stdout, fetchLine(r))
		if r.Err != nil {
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
		return fmt.Errorf("%d of %d lists could not be updated (see above)", failed, len(results))
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

// listsShow prints, per list, its source and state, rules by kind, bad
// lines, last update and next refresh.
func listsShow(cfg *Config, data string, w io.Writer) error {
	lists, err := newLists(cfg, data, nil, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	status := lists.Status()
	if ls, ok := learnedStatus(cfg, data); ok {
		status = append(status, ls)
	}
	for _, ls := range status {
		st := ls.Stats
		fmt.Fprintf(w, "%s  (%s, %s): %s\n", ls.Name, ls.Source, st.Format, ls.State)
		if ls.Reason != "" {
			fmt.Fprintf(w, "  %s\n", ls.Reason)
		}
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
		if m := ls.Meta; !m.Checked.IsZero() {
			fmt.Fprintf(w, "  updated: %s  checked: %s  next refresh: %s\n", stamp(m.Updated), stamp(m.Checked), stamp(ls.NextCheck))
			if m.LastError != "" {
				fmt.Fprintf(w, "  last error: %s\n", m.LastError)
			}
		}
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
