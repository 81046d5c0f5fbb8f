package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// topRow is one line of a top list.
type topRow struct {
	Key string
	// Label is what the row shows when it is not Key (a client's name).
	Label string
	N     int64
	Pct   int    // of the list's largest count, for the bar
	Link  string // the log filtered on Key
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
var trackerKinds = []blocklog.Kind{blocklog.KindBlocked, blocklog.KindHeuristic, blocklog.KindConnectRefused}

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
	for i, c := range v.Clients {
		if name := s.clientName(c.Key); name != "" {
			v.Clients[i].Label = name + " (" + c.Key + ")"
		}
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
