package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// options builds a select's options, selecting value (added when it is
// not among them).
func options(value string, pairs ...string) []option {
	var opts []option
	found := false
	for i := 0; i+1 < len(pairs); i += 2 {
		sel := pairs[i] == value
		found = found || sel
		opts = append(opts, option{Value: pairs[i], Label: pairs[i+1], Selected: sel})
	}
	if !found && value != "" {
		opts = append(opts, option{Value: value, Label: value, Selected: true})
	}
	return opts
}

// sinces are the log page's time ranges.
var sinces = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// logForm is the log page's search.
type logForm struct {
	Q, Client, Host, Kind, Layer, Since, List, Rule string
	Limit                                           int
}

// logView is the log page.
type logView struct {
	base
	entryTable
	F                     logForm
	Kinds, Layers, Sinces []option
	Older, Newest         string // pagination links, "" when none
	ClearList, ClearRule  string // links without the list or rule filter
	Paged                 bool
}

// Log page limits.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// logPage serves GET /log.
func (s *Server) logPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := s.now()
	f := logForm{
		Q:      strings.TrimSpace(q.Get("q")),
		Client: strings.TrimSpace(q.Get("client")),
		Host:   strings.TrimSpace(q.Get("host")),
		Kind:   strings.TrimSpace(q.Get("kind")),
		Layer:  strings.TrimSpace(q.Get("layer")),
		Since:  q.Get("since"),
		List:   q.Get("list"),
		Rule:   q.Get("rule"),
		Limit:  defaultPageSize,
	}
	if _, ok := sinces[f.Since]; !ok && f.Since != "all" {
		f.Since = "24h"
	}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 {
		f.Limit = min(n, maxPageSize)
	}
	filter := blocklog.Filter{
		Client: s.logClient(f.Client), Host: f.Host, Kind: blocklog.Kind(f.Kind), Layer: f.Layer,
		List: f.List, Rule: f.Rule, Search: f.Q,
	}
	if d, ok := sinces[f.Since]; ok {
		filter.Since = now.Add(-d)
	}
	cur, paged := parseCursor(q.Get("before"))
	entries, more, err := s.page(r.Context(), filter, f.Limit, cur, paged)
	if err != nil {
		s.errorPage(w, r, "search the log", err)
		return
	}

	// Links keep the search and change the page.
	link := func(change func(url.Values)) string {
		v := url.Values{}
		for k, val := range map[string]string{
			"q": f.Q, "client": f.Client, "host": f.Host, "kind": f.Kind, "layer": f.Layer,
			"since": f.Since, "list": f.List, "rule": f.Rule,
		} {
			if val != "" {
				v.Set(k, val)
			}
		}
		if f.Limit != defaultPageSize {
			v.Set("limit", strconv.Itoa(f.Limit))
		}
		change(v)
		return "/log?" + v.Encode()
	}
	v := logView{F: f, Paged: paged}
	if more && len(entries) > 0 {
		last := entries[len(entries)-1]
		v.Older = link(func(v url.Values) { v.Set("before", formatCursor(last)) })
	}
	if paged {
		v.Newest = link(func(url.Values) {})
	}
	if f.List != "" {
		v.ClearList = link(func(v url.Values) { v.Del("list") })
	}
	if f.Rule != "" {
		v.ClearRule = link(func(v url.Values) { v.Del("rule") })
	}
	v.Kinds = options(f.Kind, "", "any kind",
		"blocked", "blocked", "heuristic", "heuristic", "learned", "learned", "connect-refused", "connect-refused",
		"params-stripped", "params-stripped", "referer", "referer", "unwrapped", "unwrapped",
		"access-refused", "access-refused", "pinned", "pinned",
		"refused", "refused (dns)", "rate-limited", "rate-limited (dns)", "passed", "passed")
	v.Layers = options(f.Layer, "", "both", "http", "http", "dns", "dns")
	v.Sinces = options(f.Since, "1h", "last hour", "24h", "last 24 hours", "7d", "last 7 days",
		"30d", "last 30 days", "all", "all time")
	v.entryTable = s.entryTable(entries, now, r.URL.RequestURI())
	v.base = s.base(w, r, "Log", "log")
	s.render(w, r, http.StatusOK, "log", v)
}

// cursor is the position after the last entry of a page: its time and ID
// (entries are ordered by time, then ID, both descending).
type cursor struct {
	nanos, id int64
}

func formatCursor(e blocklog.Entry) string {
	return strconv.FormatInt(e.Time.UnixNano(), 10) + "." + strconv.FormatInt(e.ID, 10)
}

func parseCursor(s string) (cursor, bool) {
	a, b, ok := strings.Cut(s, ".")
	if !ok {
		return cursor{}, false
	}
	nanos, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return cursor{}, false
	}
	return cursor{nanos, id}, true
}

// page returns up to limit entries that f selects, newest first, after cur
// when paged, and whether there are more. Entries sharing the cursor's
// time are not skipped: the query starts at that time and drops what was
// already shown.
func (s *Server) page(ctx context.Context, f blocklog.Filter, limit int, cur cursor, paged bool) ([]blocklog.Entry, bool, error) {
	if !paged {
		f.Limit = limit + 1
		es, err := s.opts.Log.Query(ctx, f)
		if err != nil {
			return nil, false, err
		}
		if len(es) > limit {
			return es[:limit], true, nil
		}
		return es, false, nil
	}
	until := time.Unix(0, cur.nanos+1)
	if !f.Until.IsZero() && f.Until.Before(until) {
		until = f.Until
	}
	f.Until = until
	for extra := 16; ; extra *= 4 {
		f.Limit = limit + 1 + extra
		es, err := s.opts.Log.Query(ctx, f)
		if err != nil {
			return nil, false, err
		}
		skip := 0
		for skip < len(es) && es[skip].Time.UnixNano() == cur.nanos && es[skip].ID >= cur.id {
			skip++
		}
		if len(es) < f.Limit || len(es)-skip > limit || extra > 1<<20 {
			es = es[skip:]
			if len(es) > limit {
				return es[:limit], true, nil
			}
			return es, false, nil
		}
	}
}
