package blocklog

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seed adds a small, varied log; each entry's Detail is its name.
func seed(t *testing.T, l *Log) {
	t.Helper()
	m := func(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }
	for _, e := range []Entry{
		{Detail: "e1", Time: m(0), Layer: LayerHTTP, Kind: "blocked", Client: "192.0.2.1", Host: "ads.example.com",
			URL: "https://ads.example.com/pixel.gif", Rule: "||example.com^", List: "easylist"},
		{Detail: "e2", Time: m(1), Layer: LayerHTTP, Kind: "params-stripped", Client: "192.0.2.2", Host: "shop.test",
			URL: "https://shop.test/p?utm_source=", Rule: "$removeparam=utm_source", List: "easyprivacy", Removed: []string{"utm_source"}},
		{Detail: "e3", Time: m(2), Layer: LayerDNS, Kind: "blocked", Client: "192.0.2.1", Host: "example.com", Type: "A",
			Rule: "||example.com^", List: "easylist"},
		{Detail: "e4", Time: m(3), Layer: LayerDNS, Kind: "refused", Client: "198.51.100.9", Host: "badexample.com", Type: "AAAA"},
		{Detail: "e5", Time: m(4), Layer: LayerHTTP, Kind: "heuristic", Client: "192.0.2.2", Host: "cdn.example.com",
			URL: "https://cdn.example.com/1x1.gif", Type: "image"},
		{Detail: "e6", Time: m(5), Layer: LayerDNS, Kind: "blocked", Client: "192.0.2.1", Host: "example-x.com", Type: "A",
			Rule: "||example-x.com^", List: "adguard"},
		{Detail: "e7", Time: m(6), Layer: LayerHTTP, Kind: "blocked", Client: "192.0.2.1", Host: "ads.example.com",
			URL: "https://ads.example.com/track.js", Type: "script", Rule: "||example.com^", List: "easylist"},
	} {
		l.Add(e)
	}
	flush(t, l)
}

func names(es []Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Detail)
	}
	return strings.Join(s, ",")
}

func TestQueryFilters(t *testing.T) {
	l := openTest(t, Options{KeepQueryValues: true})
	seed(t, l)
	m := func(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"all, newest first", Filter{}, "e7,e6,e5,e4,e3,e2,e1"},
		{"since", Filter{Since: m(2)}, "e7,e6,e5,e4,e3"},
		{"until", Filter{Until: m(2)}, "e2,e1"},
		{"since and until", Filter{Since: m(1), Until: m(3)}, "e3,e2"},
		{"client", Filter{Client: "192.0.2.1"}, "e7,e6,e3,e1"},
		{"host and subdomains", Filter{Host: "example.com"}, "e7,e5,e3,e1"},
		{"host case and dot", Filter{Host: "EXAMPLE.com."}, "e7,e5,e3,e1"},
		{"subdomain only", Filter{Host: "ads.example.com"}, "e7,e1"},
		{"host no match", Filter{Host: "ample.com"}, ""},
		{"kind", Filter{Kind: "blocked"}, "e7,e6,e3,e1"},
		{"layer", Filter{Layer: LayerDNS}, "e6,e4,e3"},
		{"list", Filter{List: "easylist"}, "e7,e3,e1"},
		{"rule", Filter{Rule: "||example.com^"}, "e7,e3,e1"},
		{"search url, any case", Filter{Search: "PIXEL"}, "e1"},
		{"search host", Filter{Search: "badexample"}, "e4"},
		{"search rule", Filter{Search: "removeparam"}, "e2"},
		{"search underscore is literal", Filter{Search: "m_s"}, "e2"},
		{"search percent is literal", Filter{Search: "%"}, ""},
		{"limit", Filter{Limit: 2}, "e7,e6"},
		{"combined", Filter{Layer: LayerHTTP, Client: "192.0.2.2"}, "e5,e2"},
		{"combined host and kind", Filter{Host: "example.com", Kind: "blocked", Layer: LayerHTTP}, "e7,e1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(query(t, l, tc.f)); got != tc.want {
				t.Errorf("Query(%+v) = %q, want %q", tc.f, got, tc.want)
			}
		})
	}
}

func TestQueryOrderAndAfterID(t *testing.T) {
	l := openTest(t, Options{})
	// Same time: newest first falls back to insertion order.
	for _, d := range []string{"a", "b", "c"} {
		l.Add(Entry{Time: base, Kind: "blocked", Detail: d})
	}
	// Added later but older: ordered by time, not by ID.
	l.Add(Entry{Time: base.Add(-time.Hour), Kind: "blocked", Detail: "old"})
	flush(t, l)
	all := query(t, l, Filter{})
	if got := names(all); got != "c,b,a,old" {
		t.Fatalf("Query = %q, want c,b,a,old", got)
	}
	afterA := all[2].ID
	if got := names(query(t, l, Filter{AfterID: afterA})); got != "b,c,old" {
		t.Errorf("Query(AfterID a) = %q, want b,c,old (oldest stored first)", got)
	}
	if got := names(query(t, l, Filter{AfterID: afterA, Limit: 1})); got != "b" {
		t.Errorf("Query(AfterID a, Limit 1) = %q, want b", got)
	}
	if got := names(query(t, l, Filter{AfterID: all[0].ID})); got != "old" {
		t.Errorf("Query(AfterID c) = %q, want old", got)
	}
}

// TestFollowFromLastID: following from LastID shows only later entries,
// oldest first, also from a log that never held one (AfterID 0) and
// after a purge emptied it.
func TestFollowFromLastID(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	if id, err := l.LastID(ctx); err != nil || id != 0 {
		t.Fatalf("LastID of a new log = %d, %v; want 0", id, err)
	}
	for _, d := range []string{"a", "b"} {
		l.Add(Entry{Time: base, Kind: "blocked", Detail: d})
	}
	flush(t, l)
	if got := names(query(t, l, Filter{Follow: true})); got != "a,b" {
		t.Errorf("Query(Follow, AfterID 0) = %q, want a,b (oldest first)", got)
	}
	last, err := l.LastID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := query(t, l, Filter{Follow: true, AfterID: last}); len(got) != 0 {
		t.Errorf("Query(Follow, AfterID LastID) = %q, want nothing", names(got))
	}
	if _, err := l.Purge(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	l.Add(Entry{Time: base.Add(-time.Hour), Kind: "blocked", Detail: "c"})
	flush(t, l)
	if id, _ := l.LastID(ctx); id <= last {
		t.Errorf("LastID after purge and add = %d, want more than %d", id, last)
	}
	if got := names(query(t, l, Filter{Follow: true, AfterID: last})); got != "c" {
		t.Errorf("Query(Follow, AfterID %d) after purge = %q, want c", last, got)
	}
}

func TestTop(t *testing.T) {
	l := openTest(t, Options{})
	seed(t, l)
	ctx := context.Background()
	for _, tc := range []struct {
		by   string
		f    Filter
		n    int
		want []Count
	}{
		{"hosts", Filter{}, 3, []Count{{"ads.example.com", 2}, {"badexample.com", 1}, {"example.com", 1}}},
		{"hosts", Filter{Host: "example.com"}, 0, []Count{{"ads.example.com", 2}, {"example.com", 1}, {"cdn.example.com", 1}}},
		{"hosts", Filter{Layer: LayerDNS}, 10, []Count{{"badexample.com", 1}, {"example.com", 1}, {"example-x.com", 1}}},
		{"rules", Filter{}, 10, []Count{{"||example.com^", 3}, {"$removeparam=utm_source", 1}, {"||example-x.com^", 1}}},
		{"lists", Filter{}, 10, []Count{{"easylist", 3}, {"adguard", 1}, {"easyprivacy", 1}}},
		{"clients", Filter{}, 10, []Count{{"192.0.2.1", 4}, {"192.0.2.2", 2}, {"198.51.100.9", 1}}},
		{"clients", Filter{Since: base.Add(3 * time.Minute)}, 10, []Count{{"192.0.2.1", 2}, {"192.0.2.2", 1}, {"198.51.100.9", 1}}},
		{"kinds", Filter{}, 10, []Count{{"blocked", 4}, {"heuristic", 1}, {"params-stripped", 1}, {"refused", 1}}},
		{"kinds", Filter{Client: "192.0.2.2"}, 1, []Count{{"heuristic", 1}}},
		{"kinds", Filter{Kinds: []Kind{"refused", "heuristic", "unwrapped"}}, 10, []Count{{"heuristic", 1}, {"refused", 1}}},
		// The dashboard's top trackers: blocked and heuristic hosts counted together.
		{"hosts", Filter{Kinds: []Kind{"blocked", "heuristic"}}, 10, []Count{{"ads.example.com", 2}, {"example.com", 1}, {"example-x.com", 1}, {"cdn.example.com", 1}}},
	} {
		got, err := l.Top(ctx, tc.by, tc.f, tc.n)
		if err != nil {
			t.Fatalf("Top(%s, %+v): %v", tc.by, tc.f, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Top(%s, %+v, %d) = %v, want %v", tc.by, tc.f, tc.n, got, tc.want)
		}
	}
	if _, err := l.Top(ctx, "urls", Filter{}, 10); err == nil {
		t.Error("Top by urls succeeded")
	}
}

func TestSeries(t *testing.T) {
	clk := newClock(base)
	l := openTest(t, Options{Now: clk.Now})
	ctx := context.Background()
	m := func(n float64) time.Time { return base.Add(time.Duration(n * float64(time.Minute))) }
	for _, e := range []Entry{
		{Time: m(0), Layer: LayerHTTP, Kind: "blocked"},
		{Time: m(1), Layer: LayerHTTP, Kind: "params-stripped"},
		{Time: m(3), Layer: LayerDNS, Kind: "blocked"},
		{Time: m(3.5), Layer: LayerDNS, Kind: "refused"},
	} {
		l.Add(e)
	}
	clk.Set(m(5.5))
	for range 3 {
		l.Count(LayerHTTP, false)
	}
	for range 2 {
		l.Count(LayerDNS, true)
	}
	flush(t, l)

	type tb = [2]int64 // total, blocked
	for _, tc := range []struct {
		name   string
		since  time.Time
		bucket time.Duration
		layer  string
		want   []tb
	}{
		{"two-minute buckets", m(0), 2 * time.Minute, "", []tb{{2, 1}, {2, 1}, {5, 2}}},
		{"http", m(0), 2 * time.Minute, LayerHTTP, []tb{{2, 1}, {0, 0}, {3, 0}}},
		{"dns", m(0), 2 * time.Minute, LayerDNS, []tb{{0, 0}, {2, 1}, {2, 2}}},
		{"minutes, since rounded down", m(0.5), 0, "", []tb{{1, 1}, {1, 0}, {0, 0}, {2, 1}, {0, 0}, {5, 2}}},
		{"since zero: from the first count", time.Time{}, 3 * time.Minute, "", []tb{{2, 1}, {7, 3}}},
		{"since later", m(4), time.Hour, "", []tb{{5, 2}}},
		{"future since", m(10), time.Minute, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			points, err := l.Series(ctx, tc.since, tc.bucket, tc.layer)
			if err != nil {
				t.Fatalf("Series: %v", err)
			}
			var got []tb
			for i, p := range points {
				got = append(got, tb{p.Total, p.Blocked})
				width := max(tc.bucket.Truncate(time.Minute), time.Minute)
				start := tc.since.Truncate(time.Minute)
				if tc.since.IsZero() {
					start = base
				}
				if want := start.Add(time.Duration(i) * width); !p.Time.Equal(want) {
					t.Errorf("point %d at %v, want %v", i, p.Time, want)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Series = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := l.Series(ctx, base.Add(-1000*24*time.Hour), time.Minute, ""); err == nil {
		t.Error("Series of more than maxPoints buckets succeeded")
	}
}

// TestQueryPlans checks that every filter of Query and Top is served by an
// index rather than by a scan of the whole table.
func TestQueryPlans(t *testing.T) {
	l := openTest(t, Options{})
	seed(t, l)
	since := base.Add(-24 * time.Hour)
	for _, tc := range []planCase{
		plan("all", Filter{}, "entries_time"),
		plan("since", Filter{Since: since}, "entries_time"),
		plan("until", Filter{Until: since}, "entries_time"),
		plan("client", Filter{Client: "192.0.2.1"}, "entries_client_time"),
		plan("host", Filter{Host: "example.com"}, "entries_rhost_time"),
		plan("kind", Filter{Kind: "blocked"}, "entries_kind_time"),
		plan("list", Filter{List: "easylist"}, "entries_time"),
		plan("rule", Filter{Rule: "||example.com^"}, "entries_time"),
		plan("layer", Filter{Layer: LayerDNS}, "entries_time"),
		plan("search", Filter{Search: "pixel"}, "entries_time"),
		plan("host since", Filter{Host: "example.com", Since: since}, "entries_rhost_time"),
		plan("client since", Filter{Client: "192.0.2.1", Since: since}, "entries_client_time"),
		plan("after id", Filter{AfterID: 3}, "PRIMARY KEY"),
		// Top sums n: the indexes hold it so that the table is not read.
		topPlan("hosts", Filter{Since: since}, "COVERING INDEX entries_rhost_time"),
		topPlan("clients", Filter{Since: since}, "COVERING INDEX entries_client_time"),
		topPlan("rules", Filter{Since: since}, "entries_time"),
		topPlan("lists", Filter{Since: since}, "entries_time"),
		topPlan("kinds", Filter{Since: since}, "COVERING INDEX entries_kind_time"),
		topPlan("hosts", Filter{Host: "example.com", Since: since}, "COVERING INDEX entries_rhost_time"),
		topPlan("clients", Filter{Host: "example.com"}, "entries_rhost_time"),
		{"series", "SELECT (minute - ?) / ?, SUM(total), SUM(blocked) FROM counts WHERE minute >= ? AND minute <= ? GROUP BY 1",
			[]any{1, 1, 1, 2}, "PRIMARY KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := l.r.Query("EXPLAIN QUERY PLAN "+tc.sql, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var details []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				details = append(details, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(details, "; ")
			for _, d := range details {
				if d == "SCAN entries" || d == "SCAN counts" {
					t.Errorf("full scan: %s", plan)
				}
			}
			if !strings.Contains(plan, tc.index) {
				t.Errorf("plan %q does not use %s", plan, tc.index)
			}
			t.Log(plan)
		})
	}
}

// planCase is a statement and the index its plan should use.
type planCase struct {
	name, sql string
	args      []any
	index     string
}

func plan(name string, f Filter, index string) planCase {
	q, args := querySQL(f)
	return planCase{"query " + name, q, args, index}
}

func topPlan(by string, f Filter, index string) planCase {
	col, _ := topColumn(by)
	q, args := topSQL(col, f, 10)
	return planCase{"top " + by, q, args, index}
}
