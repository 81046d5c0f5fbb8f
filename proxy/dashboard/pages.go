package dashboard

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// base is what every page shows: title, navigation, flash message and the
// CSRF token for its forms.
type base struct {
	Title   string
	Nav     string // the current page: overview, log or lists
	Menu    bool   // show the navigation (not on the login page)
	Logout  bool   // show the logout button
	Metrics bool
	CSRF    string
	Flash   *flash
}

// base is the common part of a page answering r. It takes the flash
// message, so it must be called before anything is written.
func (s *Server) base(w http.ResponseWriter, r *http.Request, title, nav string) base {
	_, loggedIn := s.session(r)
	return base{
		Title:   title,
		Nav:     nav,
		Menu:    !s.auth || loggedIn,
		Logout:  s.auth && loggedIn,
		Metrics: s.opts.Metrics != nil,
		CSRF:    s.csrf(r),
		Flash:   s.takeFlash(w, r),
	}
}

// render executes page with data and writes it with status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	var buf bytes.Buffer
	if err := s.pages.execute(&buf, page, data); err != nil {
		s.errorPage(w, r, "render the page", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

// topRow is one line of a top list.
type topRow struct {
	Key  string
	N    int64
	Pct  int    // of the list's largest count, for the bar
	Link string // the log filtered on Key
}

// topRows turns counts into rows linking to the log filtered by param
// over the time range since.
func topRows(counts []blocklog.Count, param, since string) []topRow {
	var max int64
	for _, c := range counts {
		if c.N > max {
			max = c.N
		}
	}
	rows := make([]topRow, len(counts))
	for i, c := range counts {
		pct := 0
		if max > 0 {
			pct = int(c.N * 100 / max)
		}
		v := url.Values{param: {c.Key}, "since": {since}}
		rows[i] = topRow{Key: c.Key, N: c.N, Pct: pct, Link: "/log?" + v.Encode()}
	}
	return rows
}

// trackerKinds are the kinds whose hosts are the top trackers.
var trackerKinds = []string{"blocked", "heuristic", "connect-refused"}

// overviewView is the overview page.
type overviewView struct {
	base
	entryTable
	Range      string   // 1h, 24h or 7d
	RangeLabel string   // "24 h"
	Ranges     []option // the range choices
	Chart      chart
	Total      int64
	Blocked    int64
	BlockedPct string
	HTTP, DNS  layerTotals
	Dropped    uint64
	Trackers   []topRow
	Clients    []topRow
	Lists      []topRow
	Rules      []topRow
	// Failing are the lists that need attention.
	Failing []blocklist.ListStatus
	// Warnings are the configuration's (Options.Warnings).
	Warnings []string
	// Setup shows the first steps: nothing was ever logged.
	Setup *setupSteps
}

// layerTotals are one layer's decisions over the range.
type layerTotals struct {
	Total, Blocked int64
}

// overviewRange is one of the overview's time ranges.
type overviewRange struct {
	span, bucket time.Duration
	label        string // "24 h"
	per          string // "per 30 minutes"
}

// overviewRanges are the overview's time ranges by their query value.
var overviewRanges = map[string]overviewRange{
	"1h":  {time.Hour, 2 * time.Minute, "1 h", "per 2 minutes"},
	"24h": {24 * time.Hour, 30 * time.Minute, "24 h", "per 30 minutes"},
	"7d":  {7 * 24 * time.Hour, 4 * time.Hour, "7 days", "per 4 hours"},
}

// overview serves GET /.
func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	l := s.opts.Log
	now := s.now()
	v := overviewView{Range: r.URL.Query().Get("range"), Dropped: l.Dropped()}
	rg, ok := overviewRanges[v.Range]
	if !ok {
		v.Range, rg = "24h", overviewRanges["24h"]
	}
	v.RangeLabel = rg.label
	v.Ranges = options(v.Range, "1h", "1 h", "24h", "24 h", "7d", "7 days")
	since := now.Add(-rg.span).Truncate(rg.bucket)

	var series [2][]blocklog.Point
	for i, layer := range []string{"http", "dns"} {
		points, err := l.Series(ctx, since, rg.bucket, layer)
		if err != nil {
			s.errorPage(w, r, "read the series", err)
			return
		}
		series[i] = points
	}
	for _, p := range series[0] {
		v.HTTP.Total += p.Total
		v.HTTP.Blocked += p.Blocked
	}
	for _, p := range series[1] {
		v.DNS.Total += p.Total
		v.DNS.Blocked += p.Blocked
	}
	v.Total, v.Blocked = v.HTTP.Total+v.DNS.Total, v.HTTP.Blocked+v.DNS.Blocked
	v.BlockedPct = percent(v.Blocked, v.Total)
	v.Chart = newChart(sumSeries(series[0], series[1]), rg.bucket, now)
	v.Chart.Label = "Requests and blocked requests " + rg.per + " over the last " + rg.label
	v.Chart.Per = rg.per

	window := blocklog.Filter{Since: now.Add(-rg.span)}
	var err error
	if v.Trackers, err = s.topTrackers(ctx, window, 10, v.Range); err != nil {
		s.errorPage(w, r, "count the top trackers", err)
		return
	}
	for _, t := range []struct {
		by, param string
		rows      *[]topRow
	}{
		{"clients", "client", &v.Clients},
		{"lists", "list", &v.Lists},
		{"rules", "rule", &v.Rules},
	} {
		counts, err := l.Top(ctx, t.by, window, 10)
		if err != nil {
			s.errorPage(w, r, "count the top "+t.by, err)
			return
		}
		*t.rows = topRows(counts, t.param, v.Range)
	}

	recent, err := l.Query(ctx, blocklog.Filter{Limit: 20})
	if err != nil {
		s.errorPage(w, r, "read the log", err)
		return
	}
	if len(recent) == 0 && v.Total == 0 {
		v.Setup = s.setup()
	}
	v.Warnings = s.opts.Warnings
	if s.opts.Lists != nil {
		for _, st := range s.opts.Lists() {
			if failing(st.State) {
				v.Failing = append(v.Failing, st)
			}
		}
	}
	v.entryTable = s.entryTable(recent, now, "/")
	v.base = s.base(w, r, "Overview", "overview")
	s.render(w, r, http.StatusOK, "overview", v)
}

// sumSeries adds two series of the same buckets.
func sumSeries(a, b []blocklog.Point) []blocklog.Point {
	out := make([]blocklog.Point, max(len(a), len(b)))
	for i := range out {
		if i < len(a) {
			out[i] = a[i]
		} else {
			out[i].Time = b[i].Time
		}
		if i < len(b) {
			out[i].Total += b[i].Total
			out[i].Blocked += b[i].Blocked
		}
	}
	return out
}

// topTrackers is the top hosts among the tracker kinds.
func (s *Server) topTrackers(ctx context.Context, f blocklog.Filter, n int, since string) ([]topRow, error) {
	f.Kinds = trackerKinds
	counts, err := s.opts.Log.Top(ctx, "hosts", f, n)
	if err != nil {
		return nil, err
	}
	return topRows(counts, "host", since), nil
}

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
		Client: s.logClient(f.Client), Host: f.Host, Kind: f.Kind, Layer: f.Layer,
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

// learnedView is one row of the learned rules.
type learnedView struct {
	LearnedRule
	LearnedAgo, LearnedAt   string
	LastUsedAgo, LastUsedAt string
}

// unlearn serves POST /unlearn (ServeHTTP checked the origin and the CSRF
// token): it forgets a learned rule and goes back to /lists.
func (s *Server) unlearn(w http.ResponseWriter, r *http.Request) {
	if s.opts.Unlearn == nil {
		http.NotFound(w, r)
		return
	}
	rule := strings.TrimSpace(r.PostForm.Get("rule"))
	if rule == "" || len(rule) > 2048 {
		http.Error(w, "Bad rule.", http.StatusBadRequest)
		return
	}
	if err := s.opts.Unlearn(rule); err != nil {
		s.logger.Error("dashboard: unlearn failed", "rule", rule, "err", err)
		s.setFlash(w, r, flash{Kind: "error", Msg: "Could not unlearn " + rule + ": " + err.Error()})
	} else {
		s.logger.Info("dashboard: unlearned", "rule", rule, "remote", r.RemoteAddr)
		s.setFlash(w, r, flash{Kind: "ok", Msg: "unlearned " + rule + ": its pixels reach the heuristic again, which may learn it anew"})
	}
	http.Redirect(w, r, "/lists", http.StatusSeeOther)
}

// allow serves POST /allow (ServeHTTP checked the origin and the CSRF
// token): it applies the allow and goes back with a flash message.
func (s *Server) allow(w http.ResponseWriter, r *http.Request) {
	if s.opts.Allow == nil {
		http.NotFound(w, r)
		return
	}
	form := r.PostForm
	back := backTarget(form.Get("back"))
	var a AllowAction
	switch form.Get("target") {
	case "host", "":
		a.Host = cleanHost(form.Get("host"))
		if a.Host == "" {
			http.Error(w, "Bad host.", http.StatusBadRequest)
			return
		}
	case "site":
		a.Site = cleanHost(form.Get("site"))
		if a.Site == "" {
			http.Error(w, "Bad site.", http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, "Bad target: want host or site.", http.StatusBadRequest)
		return
	}
	switch form.Get("who") {
	case "all", "":
	case "client":
		ip, err := netip.ParseAddr(strings.TrimSpace(form.Get("client")))
		if err != nil {
			http.Error(w, "Bad client address.", http.StatusBadRequest)
			return
		}
		a.Client = ip.String()
	default:
		http.Error(w, "Bad client choice: want all or client.", http.StatusBadRequest)
		return
	}
	switch form.Get("for") {
	case "hour":
		a.For = time.Hour
	case "always":
	default:
		http.Error(w, "Bad duration: want hour or always.", http.StatusBadRequest)
		return
	}
	if err := s.opts.Allow(a); err != nil {
		s.logger.Error("dashboard: allow failed", "allow", a.String(), "err", err)
		s.setFlash(w, r, flash{Kind: "error", Msg: "Could not allow " + a.String() + ": " + err.Error()})
	} else {
		s.logger.Info("dashboard: allowed", "allow", a.String(), "remote", r.RemoteAddr)
		s.setFlash(w, r, flash{Kind: "ok", Msg: "allowed " + a.String()})
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// backTarget is where an allow goes back to: one of the dashboard's pages,
// default the log.
func backTarget(back string) string {
	back = localTarget(back, "/log")
	u, err := url.Parse(back)
	if err != nil {
		return "/log"
	}
	switch u.Path {
	case "/", "/log", "/lists":
		return back
	}
	return "/log"
}

// cleanHost returns host lowercased without a trailing dot, or "" when it
// does not look like a host name or an IP address.
func cleanHost(host string) string {
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if host == "" || len(host) > 253 {
		return ""
	}
	for _, c := range []byte(host) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == ':', c == '[', c == ']':
		default:
			return ""
		}
	}
	return host
}
