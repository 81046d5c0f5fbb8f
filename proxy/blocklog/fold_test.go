package blocklog

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// openBatch opens a log whose writer stores only on Flush, so that what
// a test Adds before a Flush is one batch.
func openBatch(t *testing.T, opts Options) *Log {
	t.Helper()
	opts.FlushInterval = time.Hour
	return openTest(t, opts)
}

func TestFoldRepeated(t *testing.T) {
	clk := newClock(base.Add(30 * time.Second))
	l := openBatch(t, Options{Now: clk.Now})
	px := Entry{Layer: LayerHTTP, Kind: "blocked", Client: "192.0.2.1", Method: "GET", Host: "px.tracker.test",
		URL: "https://px.tracker.test/p.gif?uid=42", Type: "image", Rule: "||tracker.test^", List: "easyprivacy"}
	for i := range 1000 {
		e := px
		e.Time = base.Add(time.Duration(i) * time.Millisecond)
		e.URL = fmt.Sprintf("https://px.tracker.test/p.gif?uid=%d", i) // the same once redacted
		l.Add(e)
		if i%100 == 0 {
			l.Add(Entry{Time: base, Layer: LayerDNS, Kind: "blocked", Host: fmt.Sprintf("d%d.test", i/100), Type: "A"})
		}
	}
	flush(t, l)

	if n := countEntries(t, l); n != 11 {
		t.Errorf("%d rows, want 11", n)
	}
	got := query(t, l, Filter{Host: "px.tracker.test"})
	if len(got) != 1 {
		t.Fatalf("Query(px.tracker.test) = %d rows, want 1", len(got))
	}
	if got[0].Count != 1000 {
		t.Errorf("folded row Count = %d, want 1000", got[0].Count)
	}
	if !got[0].Time.Equal(base) {
		t.Errorf("folded row Time = %v, want the earliest, %v", got[0].Time, base)
	}
	for _, e := range query(t, l, Filter{Layer: LayerDNS}) {
		if e.Count != 1 {
			t.Errorf("%s: Count = %d, want 1", e.Host, e.Count)
		}
	}
	hosts := top(t, l, "hosts", Filter{}, 1)
	if want := []Count{{"px.tracker.test", 1000}}; !reflect.DeepEqual(hosts, want) {
		t.Errorf("Top hosts = %v, want %v", hosts, want)
	}
	points := series(t, l, base, time.Minute, "")
	if len(points) != 1 || points[0].Total != 1010 || points[0].Blocked != 1010 {
		t.Errorf("Series = %+v, want one minute of 1010 decisions, all blocked", points)
	}
	if n := l.stored.Load(); n != 1010 {
		t.Errorf("stored counter = %d, want 1010 decisions", n)
	}
}

// TestFoldAcrossMinutes: a row may stand for decisions of several minutes;
// the counts table still puts each decision in its own minute.
func TestFoldAcrossMinutes(t *testing.T) {
	clk := newClock(base.Add(2 * time.Minute))
	l := openBatch(t, Options{Now: clk.Now})
	e := Entry{Layer: LayerDNS, Kind: "blocked", Client: "192.0.2.1", Host: "t.test", Type: "A"}
	for _, at := range []time.Duration{61 * time.Second, 59 * time.Second, 30 * time.Second} {
		e.Time = base.Add(at)
		l.Add(e)
	}
	e.Time, e.Count = base.Add(90*time.Second), 5 // a caller's own count
	l.Add(e)
	flush(t, l)

	got := query(t, l, Filter{})
	if len(got) != 1 {
		t.Fatalf("%d rows, want 1", len(got))
	}
	if got[0].Count != 8 || !got[0].Time.Equal(base.Add(30*time.Second)) {
		t.Errorf("row: Count %d at %v, want 8 at %v", got[0].Count, got[0].Time, base.Add(30*time.Second))
	}
	points := series(t, l, base, time.Minute, LayerDNS)
	var totals, blocked []int64
	for _, p := range points {
		totals = append(totals, p.Total)
		blocked = append(blocked, p.Blocked)
	}
	if want := []int64{2, 6, 0}; !reflect.DeepEqual(totals, want) || !reflect.DeepEqual(blocked, want) {
		t.Errorf("per minute: totals %v, blocked %v, want %v for both", totals, blocked, want)
	}
}

// TestFoldOnlyIdentical: entries that differ in any stored field but the
// time are stored apart.
func TestFoldOnlyIdentical(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(first, second *Entry) // makes second from a copy of first
		rows   int64
	}{
		{"time only", func(_, e *Entry) { e.Time = e.Time.Add(time.Second) }, 1},
		{"query value only (redacted)", func(_, e *Entry) { e.URL = "https://px.tracker.test/p.gif?x=2" }, 1},
		{"host case (normalised)", func(_, e *Entry) { e.Host = "PX.Tracker.TEST." }, 1},
		{"removed nil and empty (both stored as none)", func(a, b *Entry) { a.Removed, b.Removed = nil, []string{} }, 1},
		{"layer", func(_, e *Entry) { e.Layer = LayerDNS }, 2},
		{"kind", func(_, e *Entry) { e.Kind = "heuristic" }, 2},
		{"client", func(_, e *Entry) { e.Client = "192.0.2.2" }, 2},
		{"method", func(_, e *Entry) { e.Method = "POST" }, 2},
		{"host", func(_, e *Entry) { e.Host = "px2.tracker.test" }, 2},
		{"url", func(_, e *Entry) { e.URL = "https://px.tracker.test/q.gif?x=1" }, 2},
		{"type", func(_, e *Entry) { e.Type = "script" }, 2},
		{"source", func(_, e *Entry) { e.Source = "other.test" }, 2},
		{"rule", func(_, e *Entry) { e.Rule = "||px.tracker.test^" }, 2},
		{"list", func(_, e *Entry) { e.List = "easylist" }, 2},
		{"response", func(_, e *Entry) { e.Response = "204" }, 2},
		{"removed one more", func(_, e *Entry) { e.Removed = append(e.Removed, "b") }, 2},
		{"removed one less", func(_, e *Entry) { e.Removed = nil }, 2},
		{"removed, a name with a NUL", func(a, b *Entry) { a.Removed, b.Removed = []string{"a", "b"}, []string{"a\x00b"} }, 2},
		{"cloaked by", func(_, e *Entry) { e.CloakedBy = "cdn.test" }, 2},
		{"detail", func(_, e *Entry) { e.Detail = "other" }, 2},
		{"bytes", func(_, e *Entry) { e.Bytes = 44 }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openBatch(t, Options{})
			e := Entry{Time: base, Layer: LayerHTTP, Kind: "blocked", Client: "192.0.2.1", Method: "GET",
				Host: "px.tracker.test", URL: "https://px.tracker.test/p.gif?x=1", Type: "image", Source: "news.test",
				Rule: "||tracker.test^", List: "easyprivacy", Response: "gif", Removed: []string{"a"}, Bytes: 43}
			other := e
			other.Removed = append([]string(nil), e.Removed...)
			tc.change(&e, &other)
			l.Add(e)
			l.Add(other)
			flush(t, l)
			if n := countEntries(t, l); n != tc.rows {
				t.Errorf("%d rows, want %d", n, tc.rows)
			}
			if n := countDecisions(t, l); n != 2 {
				t.Errorf("%d decisions, want 2", n)
			}
		})
	}
}

func TestRemovedKey(t *testing.T) {
	lists := [][]string{nil, {""}, {"", ""}, {"a"}, {"a", "b"}, {"a\x00b"}, {"ab"}, {"a", ""}, {"", "a"}, {`["a"]`}, {"\x00"}}
	seen := make(map[string][]string)
	for _, names := range lists {
		k := removedKey(names)
		if prev, ok := seen[k]; ok {
			t.Errorf("removedKey(%q) = removedKey(%q) = %q", names, prev, k)
		}
		seen[k] = names
	}
	if k := removedKey([]string{}); k != removedKey(nil) {
		t.Errorf("removedKey([]) = %q, want removedKey(nil) = %q: both are stored as \"\"", k, removedKey(nil))
	}
}

// TestSchemaReopen: a log created by Open has the final schema, and opens
// again, writable and read-only, with its rows and counts intact.
func TestSchemaReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blocks.db")
	e := Entry{Time: base, Layer: LayerDNS, Kind: "blocked", Client: "192.0.2.1",
		Host: "ads.old.test", Type: "A", Rule: "||old.test^", List: "easylist"}
	first := openBatch(t, Options{Path: path, Now: newClock(base).Now})
	first.Add(e)
	flush(t, first)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	l := openBatch(t, Options{Path: path, Now: newClock(base.Add(time.Minute)).Now})
	var version int
	if err := l.r.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != schemaVersion {
		t.Errorf("schema version %d after reopening, want %d", version, schemaVersion)
	}
	rows, err := l.r.Query(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	indexes := map[string]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		indexes[name] = def
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"entries_time":        "CREATE INDEX entries_time ON entries (time)",
		"entries_rhost_time":  "CREATE INDEX entries_rhost_time ON entries (rhost, time, n)",
		"entries_client_time": "CREATE INDEX entries_client_time ON entries (client, time, n)",
		"entries_kind_time":   "CREATE INDEX entries_kind_time ON entries (kind, time, n)",
	}
	if !reflect.DeepEqual(indexes, want) {
		t.Errorf("indexes = %v, want %v", indexes, want)
	}

	old := query(t, l, Filter{})
	if len(old) != 1 || old[0].Host != "ads.old.test" || old[0].Count != 1 || old[0].ID != 1 || !old[0].Time.Equal(base) {
		t.Fatalf("old row read back as %+v, want ads.old.test, Count 1, ID 1", old)
	}
	for range 3 {
		e.Time = base.Add(time.Minute)
		l.Add(e)
	}
	flush(t, l)
	got := query(t, l, Filter{})
	if len(got) != 2 || got[0].Count != 3 || got[0].ID <= old[0].ID {
		t.Errorf("after three Adds: %+v, want a new row of Count 3 above the old one", got)
	}
	hosts := top(t, l, "hosts", Filter{}, 10)
	if want := []Count{{"ads.old.test", 4}}; !reflect.DeepEqual(hosts, want) {
		t.Errorf("Top hosts = %v, want %v", hosts, want)
	}
	points := series(t, l, base, time.Minute, "")
	if len(points) != 2 || points[0].Total != 1 || points[1].Total != 3 {
		t.Errorf("Series = %+v, want 1 then 3", points)
	}

	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer ro.Close()
	if n := len(query(t, ro, Filter{})); n != 2 {
		t.Errorf("read-only Query: %d rows, want 2", n)
	}
}

// TestSchemaOtherVersion: a file of a schema version this program does not
// create is refused, by both openers, with an error naming the version, and
// left as it was.
func TestSchemaOtherVersion(t *testing.T) {
	for _, v := range []int{1, schemaVersion - 1, schemaVersion + 1} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "blocks.db")
			db, err := sql.Open(driverName, dsn(path, false))
			if err != nil {
				t.Fatal(err)
			}
			for _, stmt := range []string{
				`CREATE TABLE entries (id INTEGER PRIMARY KEY, time INTEGER NOT NULL)`,
				fmt.Sprintf("PRAGMA user_version = %d", v),
			} {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			l, err := Open(Options{Path: path})
			if err == nil {
				l.Close()
				t.Fatalf("Open of schema version %d succeeded", v)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", v)) {
				t.Errorf("Open error %q does not name schema version %d", err, v)
			}
			if l, err := OpenReadOnly(path); err == nil {
				l.Close()
				t.Errorf("OpenReadOnly of schema version %d succeeded", v)
			}
			db, err = sql.Open(driverName, dsn(path, true))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var got int
			if err := db.QueryRow("PRAGMA user_version").Scan(&got); err != nil || got != v {
				t.Errorf("user_version after refusal = %d, %v; want %d untouched", got, err, v)
			}
		})
	}
}

// TestJSONLinesUnfolded: a log shipper gets one line per Add, each with its
// own time and count, while the database gets one row.
func TestJSONLinesUnfolded(t *testing.T) {
	var buf bytes.Buffer
	l := openBatch(t, Options{JSON: &buf})
	e := Entry{Layer: LayerDNS, Kind: "blocked", Client: "192.0.2.1", Host: "t.test", Type: "A"}
	for i := range 5 {
		e.Time = base.Add(time.Duration(i) * time.Second)
		l.Add(e)
	}
	e.Time, e.Count = base.Add(5*time.Second), 3
	l.Add(e)
	l.Add(Entry{Time: base, Layer: LayerDNS, Kind: "blocked", Host: "other.test"})
	flush(t, l)

	if n := countEntries(t, l); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
	var lines []Entry
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var got Entry
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d: %v: %s", len(lines)+1, err, sc.Bytes())
		}
		lines = append(lines, got)
	}
	if len(lines) != 7 {
		t.Fatalf("%d JSON lines, want 7 (one per Add)", len(lines))
	}
	row := query(t, l, Filter{Host: "t.test"})[0].ID
	for i, got := range lines[:6] {
		want := int64(1)
		if i == 5 {
			want = 3
		}
		if got.Count != want || got.ID != row || !got.Time.Equal(base.Add(time.Duration(i)*time.Second)) {
			t.Errorf("line %d: count %d, id %d, time %v; want count %d, id %d (the row's), time %v",
				i+1, got.Count, got.ID, got.Time, want, row, base.Add(time.Duration(i)*time.Second))
		}
	}
	if last := lines[6]; last.Host != "other.test" || last.Count != 1 || last.ID == row || last.ID == 0 {
		t.Errorf("line 7: %+v, want other.test with count 1 and its own id", last)
	}
}

// TestDroppedCountsDecisions: an entry dropped by a full queue loses all
// the decisions it stands for.
func TestDroppedCountsDecisions(t *testing.T) {
	l := newLog(Options{QueueSize: 1, Now: time.Now}) // no writer: the queue stays full
	l.Add(Entry{Kind: "blocked"})
	l.Add(Entry{Kind: "blocked", Count: 7})
	l.Add(Entry{Kind: "blocked", Count: -2})
	if d := l.Dropped(); d != 8 {
		t.Errorf("Dropped() = %d, want 8 (7, and 1 for a Count below 1)", d)
	}
}

// TestFoldFloodOfDistinctNames: a resolver under load answers thousands
// of blocked names over and over, more distinct ones than fit the old
// 4,096-entry batches, one after another. Folding as entries arrive keeps
// one row per name for the whole flush interval, however many times each
// came, without dropping any.
func TestFoldFloodOfDistinctNames(t *testing.T) {
	clk := newClock(base.Add(50 * time.Second))
	l := openTest(t, Options{Now: clk.Now, FlushInterval: time.Hour, QueueSize: 1 << 16})
	const names, rounds = 6000, 5
	for r := range rounds {
		for i := range names {
			l.Add(Entry{Time: base.Add(time.Duration(r) * time.Second), Layer: LayerDNS, Kind: "blocked",
				Client: "127.0.0.1", Host: fmt.Sprintf("t%d.tracker.test", i), Type: "A", Rule: "||tracker.test^", List: "l"})
		}
	}
	flush(t, l)
	if n := countEntries(t, l); n != names {
		t.Errorf("%d rows, want %d (one per name)", n, names)
	}
	if d := l.Dropped(); d != 0 {
		t.Errorf("%d decisions dropped", d)
	}
	if n := l.stored.Load(); n != names*rounds {
		t.Errorf("stored %d decisions, want %d", n, names*rounds)
	}
	got := query(t, l, Filter{Host: "t42.tracker.test"})
	if len(got) != 1 || got[0].Count != rounds || !got[0].Time.Equal(base) {
		t.Errorf("t42: %+v, want one row counting %d from %v", got, rounds, base)
	}
}

func TestSpacing(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct{ interval, last, want time.Duration }{
		{500 * ms, 0, 500 * ms},               // nothing stored yet
		{500 * ms, 20 * ms, 500 * ms},         // quick stores: the interval
		{500 * ms, 200 * ms, 2 * time.Second}, // a slow store: ten times it
		{500 * ms, time.Second, MaxStoreSpacing},
		{10 * time.Second, time.Second, 10 * time.Second}, // never below the interval
	} {
		if got := spacing(c.interval, c.last); got != c.want {
			t.Errorf("spacing(%v, %v) = %v, want %v", c.interval, c.last, got, c.want)
		}
	}
}

// A slow store that folded makes the writer wait longer before the next
// one (Flush does not wait); a quick one, or one that folded nothing, lets
// entries through within the interval.
func TestSlowStoreSpacesStores(t *testing.T) {
	// The interval leaves the Adds (slow under the race detector) time to
	// fill the batch before it is first due.
	l := openTest(t, Options{FlushInterval: 150 * time.Millisecond, QueueSize: 2 * spacedRows})
	l.lastStore.Store(int64(time.Second)) // as if the last store took 1s: wait 5s
	for i := range spacedRows {           // a batch large enough to wait
		l.Add(Entry{Layer: LayerDNS, Kind: "blocked", Host: fmt.Sprintf("a%d.example", i)})
	}
	time.Sleep(750 * time.Millisecond) // 5 flush intervals
	if n := l.stored.Load(); n != 0 {
		t.Fatalf("stored %d decisions within 750ms of a 1s store; want the writer to wait %v", n, MaxStoreSpacing)
	}
	flush(t, l)
	if n := l.stored.Load(); n != spacedRows {
		t.Fatalf("Flush stored %d decisions, want %d", n, spacedRows)
	}
	if d := time.Duration(l.lastStore.Load()); d != 0 {
		t.Fatalf("lastStore = %v after a batch that folded nothing, want 0: waiting would not fold more", d)
	}
	// A batch that folds keeps its store's time.
	for range foldGain {
		l.Add(Entry{Layer: LayerDNS, Kind: "blocked", Host: "folded.example"})
	}
	flush(t, l)
	if d := time.Duration(l.lastStore.Load()); d <= 0 || d >= time.Second {
		t.Fatalf("lastStore = %v after a folding one-row store, want its own (short) time", d)
	}
	// A small batch goes at the interval even after a slow store: the
	// flood is over.
	l.lastStore.Store(int64(time.Second))
	l.Add(Entry{Layer: LayerDNS, Kind: "blocked", Host: "small.example"})
	want := uint64(spacedRows + foldGain + 1)
	for deadline := time.Now().Add(MaxStoreSpacing / 2); l.stored.Load() != want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("one entry after a slow store was not stored within %v (stored %d): it waited as if for a flood", MaxStoreSpacing/2, l.stored.Load())
		}
	}
}

// TestRefusalsFoldPerClientAndMinute: a flood of refusals from one client,
// each for another name and stored over many flushes, is one row per
// client and minute whose count is every refusal of that minute; other
// kinds still fold only when equal.
func TestRefusalsFoldPerClientAndMinute(t *testing.T) {
	clk := newClock(base)
	l := openBatch(t, Options{Now: clk.Now})
	refuse := func(client string, at time.Time, n int) {
		for i := range n {
			l.Add(Entry{Time: at.Add(time.Duration(i) * time.Millisecond), Layer: LayerDNS, Kind: "refused",
				Client: client, Host: fmt.Sprintf("r%d.flood.test", i), Type: "A"})
		}
	}
	for f := range 5 { // five batches within the first minute
		clk.Set(base.Add(time.Duration(f) * 10 * time.Second))
		refuse("198.51.100.7", clk.Now(), 200)
		refuse("198.51.100.8", clk.Now(), 10)
		l.Add(Entry{Time: clk.Now(), Layer: LayerDNS, Kind: "blocked", Client: "192.0.2.1",
			Host: fmt.Sprintf("b%d.test", f), Type: "A"})
		flush(t, l)
	}
	clk.Set(base.Add(70 * time.Second)) // the next minute: a row of its own
	refuse("198.51.100.7", clk.Now(), 30)
	flush(t, l)

	if n := countEntries(t, l); n != 3+5 {
		t.Errorf("%d rows, want 8: three refusal rows and five blocks", n)
	}
	got := query(t, l, Filter{Kind: "refused", Client: "198.51.100.7"})
	if len(got) != 2 {
		t.Fatalf("refusal rows of 198.51.100.7 = %d, want 2 (one a minute)", len(got))
	}
	counts := map[int64]int64{}
	for _, e := range got {
		counts[minuteOf(e.Time)-minuteOf(base)] = e.Count
	}
	if want := map[int64]int64{0: 1000, 1: 30}; !reflect.DeepEqual(counts, want) {
		t.Errorf("refusal counts by minute = %v, want %v", counts, want)
	}
	if got := top(t, l, "kinds", Filter{}, 5); !reflect.DeepEqual(got, []Count{{"refused", 1080}, {"blocked", 5}}) {
		t.Errorf("Top kinds = %v, want every decision counted", got)
	}

	// A row deleted meanwhile is started anew, not lost.
	if _, err := l.Purge(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	refuse("198.51.100.7", clk.Now(), 3)
	flush(t, l)
	if got := query(t, l, Filter{Kind: "refused"}); len(got) != 1 || got[0].Count != 3 {
		t.Errorf("after Purge: %+v, want one row of 3", got)
	}
}

func TestRefusalKinds(t *testing.T) {
	for kind, want := range map[Kind]bool{"refused": true, "access-refused": true, "rate-limited": true,
		"blocked": false, "connect-refused": false, "passed": false} {
		if got := Refusal(kind); got != want {
			t.Errorf("Refusal(%q) = %v, want %v", kind, got, want)
		}
	}
}
