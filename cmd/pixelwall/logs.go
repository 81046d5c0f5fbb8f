package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pixelwall/pixelwall/proxy"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

func logPath(cfg *Config, data string) string {
	if cfg.Log.Path != "" {
		return cfg.Log.Path
	}
	return filepath.Join(data, "log", "pixelwall.db")
}

// openLog opens the block log for run.
func openLog(cfg *Config, data string, stdout io.Writer) (*blocklog.Log, io.Closer, error) {
	opts := blocklog.Options{
		Path:             logPath(cfg, data),
		Retention:        time.Duration(cfg.Log.Retention),
		MaxBytes:         cfg.Log.MaxSizeMB << 20,
		KeepQueryValues:  cfg.Log.KeepQueryValues,
		AnonymizeClients: cfg.Log.AnonymizeClients,
	}
	var closer io.Closer = io.NopCloser(nil)
	switch cfg.Log.JSON {
	case "":
	case "stdout":
		opts.JSON = stdout
	default:
		f, err := os.OpenFile(cfg.Log.JSON, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("log.json: %w", err)
		}
		opts.JSON, closer = f, f
	}
	l, err := blocklog.Open(opts)
	if err != nil {
		closer.Close()
		return nil, nil, fmt.Errorf("block log: %w", err)
	}
	return l, closer, nil
}

// httpEntry turns a proxy event into a log entry, or reports that it is
// only counted.
func httpEntry(e proxy.Event) blocklog.Entry {
	return blocklog.Entry{
		Time: e.Time, Layer: "http", Kind: e.Kind, Client: e.Client, Method: e.Method, Host: e.Host,
		URL: e.URL, Type: e.Type, Source: e.Source, Rule: e.Rule, List: e.List, Response: e.Response,
		Removed: e.Removed, Detail: e.Detail, Bytes: e.Bytes,
	}
}

func dnsEntry(e resolver.Event) blocklog.Entry {
	return blocklog.Entry{
		Time: e.Time, Layer: "dns", Kind: e.Kind, Client: e.Client, Host: e.Name, Type: e.Type,
		Rule: e.Rule, List: e.List, CloakedBy: e.CloakedBy,
	}
}

// topKeys are what `logs -top` counts by.
var topKeys = []string{"hosts", "rules", "lists", "clients", "kinds"}

// logKinds are the kinds the proxy and the resolver log (blocklog.Kinds),
// as words for help texts; kinds found in the log are accepted too.
var logKinds = func() []string {
	var out []string
	for _, k := range blocklog.Kinds() {
		out = append(out, string(k))
	}
	return out
}()

// cmdLogs is `pixelwall logs [flags]` and `pixelwall logs purge`.
func cmdLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("logs", stdout)
	var common commonFlags
	common.register(fs)
	since := &durationFlag{d: 24 * time.Hour}
	fs.Var(since, "since", "show entries newer than this `duration` (0: all); purge: delete entries older than this")
	all := fs.Bool("all", false, "purge: delete every entry")
	client := fs.String("client", "", "only this client `address`")
	host := fs.String("host", "", "only this `host` (and its subdomains)")
	var kind string
	fs.StringVar(&kind, "kind", "", "only this `kind` (the KIND column): "+strings.Join(logKinds, ", "))
	fs.StringVar(&kind, "reason", "", "an alias of -`kind`")
	layer := fs.String("layer", "", "only this `layer`: http or dns")
	top := fs.String("top", "", "count instead, by `key`: "+strings.Join(topKeys, ", "))
	limit := fs.Int("n", 50, "how many entries (or -top rows) to show")
	asJSON := fs.Bool("json", false, "one JSON object per line")
	follow := fs.Bool("follow", false, "keep printing new entries as they arrive")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	purge := len(pos) > 0 && pos[0] == "purge"
	if purge {
		pos = pos[1:]
	}
	if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", pos)}
	}
	switch {
	case purge && since.set == *all:
		return usageError{errors.New("purge: give -since DURATION (delete entries older than it) or -all")}
	case !purge && *all:
		return usageError{errors.New("-all is for purge")}
	case *layer != "" && *layer != "http" && *layer != "dns":
		return usageError{fmt.Errorf("-layer %q: want http or dns", *layer)}
	case *top != "" && !slices.Contains(topKeys, *top):
		return usageError{fmt.Errorf("-top %q: want one of %s", *top, strings.Join(topKeys, ", "))}
	case *limit <= 0:
		return usageError{fmt.Errorf("-n %d: want a positive number", *limit)}
	}
	cfg, err := loadConfigOrDefault(common.config)
	if err != nil {
		return err
	}
	path := logPath(cfg, dataDir(common.data, cfg))
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no block log at %s yet: pixelwall run writes it", path)
	}
	if purge {
		var before time.Time
		if since.d > 0 && !*all {
			before = time.Now().Add(-since.d)
		}
		return purgeLog(ctx, path, before, stdout)
	}
	l, err := blocklog.OpenReadOnly(path)
	if err != nil {
		return err
	}
	defer l.Close()
	if kind != "" {
		if err := checkKind(ctx, l, kind); err != nil {
			return err
		}
	}
	f := blocklog.Filter{Client: *client, Host: *host, Kind: blocklog.Kind(kind), Layer: *layer, Limit: *limit}
	if since.d > 0 {
		f.Since = time.Now().Add(-since.d)
	}
	if *top != "" {
		return printTop(ctx, l, *top, f, *limit, *asJSON, stdout)
	}
	return showLog(ctx, l, f, *asJSON, *follow, stdout)
}

// purgeLog deletes the entries before before (every entry when zero).
func purgeLog(ctx context.Context, path string, before time.Time, stdout io.Writer) error {
	l, err := blocklog.Open(blocklog.Options{Path: path})
	if err != nil {
		return err
	}
	defer l.Close()
	n, err := l.Purge(ctx, before)
	if err != nil {
		return err
	}
	// Decisions, not rows: an entry shown as "×N" counts N times.
	fmt.Fprintf(stdout, "purged %d decisions\n", n)
	return nil
}

// printTop prints the counts by key (`logs -top`).
func printTop(ctx context.Context, l *blocklog.Log, key string, f blocklog.Filter, limit int, asJSON bool, stdout io.Writer) error {
	rows, err := l.Top(ctx, key, f, limit)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			enc.Encode(map[string]any{"key": r.Key, "count": r.N})
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "COUNT\t %s\n", strings.ToUpper(strings.TrimSuffix(key, "s")))
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t %s\n", r.N, r.Key)
	}
	return tw.Flush()
}

// showLog prints the entries of f, oldest first, and with follow the new
// ones as they arrive until ctx ends.
func showLog(ctx context.Context, l *blocklog.Log, f blocklog.Filter, asJSON, follow bool, stdout io.Writer) error {
	// The follower starts after the last entry stored before the first
	// query, or after the newest one shown if that is later: nothing is
	// printed twice, and -since does not let older entries in later.
	last, err := l.LastID(ctx)
	if err != nil {
		return err
	}
	entries, err := l.Query(ctx, f)
	if err != nil {
		return err
	}
	// Oldest first reads naturally, and -follow continues downwards.
	slices.Reverse(entries)
	printEntries(stdout, entries, asJSON, !follow || len(entries) > 0)
	if !follow {
		return nil
	}
	for _, e := range entries {
		last = max(last, e.ID)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
		f.AfterID, f.Follow, f.Since = last, true, time.Time{}
		more, err := l.Query(ctx, f)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		if len(more) > 0 {
			printEntries(stdout, more, asJSON, false)
			last = more[len(more)-1].ID
		}
	}
}

// checkKind is a usage error unless kind is one pixelwall logs or one
// found in the log.
func checkKind(ctx context.Context, l *blocklog.Log, kind string) error {
	known := slices.Clone(logKinds)
	if rows, err := l.Top(ctx, "kinds", blocklog.Filter{}, 100); err == nil {
		for _, r := range rows {
			known = append(known, r.Key)
		}
	}
	if slices.Contains(known, kind) {
		return nil
	}
	slices.Sort(known)
	return usageError{fmt.Errorf("-kind %q: want one of %s", kind, strings.Join(slices.Compact(known), ", "))}
}

// printEntries writes entries as an aligned table with relative times, or
// as JSON lines. An entry that stands for several identical decisions
// (blocklog folds repeats) shows its count as "×N" after its kind in the
// table; in JSON its "count" is always there.
func printEntries(w io.Writer, entries []blocklog.Entry, asJSON, header bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, e := range entries {
			enc.Encode(e)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if header {
		fmt.Fprintln(tw, "WHEN\tCLIENT\tLAYER\tKIND\tHOST\tWHAT\tRULE\tLIST")
	}
	now := time.Now()
	for _, e := range entries {
		what := e.URL
		switch {
		case e.Layer == "dns" && e.CloakedBy != "":
			what = e.Type + " via CNAME " + e.CloakedBy
		case e.Layer == "dns":
			what = e.Type
		case len(e.Removed) > 0:
			what = e.URL + " (removed " + strings.Join(e.Removed, ", ") + ")"
		case e.Detail != "" && e.URL == "":
			what = e.Detail
		}
		kind := string(e.Kind)
		if e.Count > 1 {
			kind += " ×" + strconv.FormatInt(e.Count, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ago(now.Sub(e.Time)), e.Client, e.Layer, kind, e.Host, shorten(what, 80), shorten(e.Rule, 40), e.List)
	}
	tw.Flush()
}

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
