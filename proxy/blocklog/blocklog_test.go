package blocklog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// base is the tests' reference time.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openTest opens a log in a fresh directory, closed at the end of the test.
func openTest(t *testing.T, opts Options) *Log {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "log", "blocks.db")
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

func flush(t *testing.T, l *Log) {
	t.Helper()
	if err := l.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func query(t *testing.T, l *Log, f Filter) []Entry {
	t.Helper()
	got, err := l.Query(context.Background(), f)
	if err != nil {
		t.Fatalf("Query(%+v): %v", f, err)
	}
	return got
}

func top(t *testing.T, l *Log, by string, f Filter, n int) []Count {
	t.Helper()
	got, err := l.Top(context.Background(), by, f, n)
	if err != nil {
		t.Fatalf("Top %s: %v", by, err)
	}
	return got
}

func series(t *testing.T, l *Log, since time.Time, bucket time.Duration, layer string) []Point {
	t.Helper()
	got, err := l.Series(context.Background(), since, bucket, layer)
	if err != nil {
		t.Fatalf("Series: %v", err)
	}
	return got
}

// countEntries counts the stored rows.
func countEntries(t *testing.T, l *Log) int64 {
	t.Helper()
	var n int64
	if err := l.r.QueryRow("SELECT COUNT(*) FROM entries").Scan(&n); err != nil {
		t.Fatalf("counting entries: %v", err)
	}
	return n
}

// countDecisions counts the decisions the stored rows stand for.
func countDecisions(t *testing.T, l *Log) int64 {
	t.Helper()
	var n int64
	if err := l.r.QueryRow("SELECT COALESCE(SUM(n), 0) FROM entries").Scan(&n); err != nil {
		t.Fatalf("counting decisions: %v", err)
	}
	return n
}

func fullEntry() Entry {
	return Entry{
		Time:      base.Add(1234567 * time.Nanosecond),
		Layer:     LayerHTTP,
		Kind:      "params-stripped",
		Client:    "192.0.2.7",
		Method:    "GET",
		Host:      "shop.example",
		URL:       "https://shop.example/item/3",
		Type:      "document",
		Source:    "news.example",
		Rule:      "||shop.example^$removeparam=utm_source",
		List:      "easyprivacy",
		Response:  "204",
		Removed:   []string{"utm_source", "fbclid"},
		CloakedBy: "tracker.cdn.example",
		Detail:    "two parameters",
		Bytes:     4321,
	}
}

func TestRoundTrip(t *testing.T) {
	l := openTest(t, Options{})
	want := fullEntry()
	l.Add(want)
	flush(t, l)
	got := query(t, l, Filter{})
	if len(got) != 1 {
		t.Fatalf("Query returned %d entries, want 1", len(got))
	}
	if got[0].ID <= 0 {
		t.Errorf("ID = %d, want > 0", got[0].ID)
	}
	if !got[0].Time.Equal(want.Time) {
		t.Errorf("Time = %v, want %v", got[0].Time, want.Time)
	}
	want.ID, want.Time = got[0].ID, got[0].Time
	want.Count = 1 // Add's default
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got[0], want)
	}
}

func TestAddDefaults(t *testing.T) {
	clk := newClock(base)
	l := openTest(t, Options{Now: clk.Now})
	l.Add(Entry{Layer: LayerDNS, Kind: "blocked", Host: "Ads.Example.COM."})
	flush(t, l)
	got := query(t, l, Filter{})
	if len(got) != 1 {
		t.Fatalf("Query returned %d entries, want 1", len(got))
	}
	if !got[0].Time.Equal(base) {
		t.Errorf("Time = %v, want the clock's %v", got[0].Time, base)
	}
	if got[0].Host != "ads.example.com" {
		t.Errorf("Host = %q, want it lowercased without the trailing dot", got[0].Host)
	}
	if got[0].Removed != nil {
		t.Errorf("Removed = %#v, want nil", got[0].Removed)
	}
}

func TestCloseStoresQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blocks.db")
	l, err := Open(Options{Path: path, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		l.Add(Entry{Layer: LayerHTTP, Kind: "blocked", Host: fmt.Sprintf("h%d.test", i)})
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	l.Add(Entry{Kind: "blocked"}) // must neither panic nor block
	l.Count(LayerHTTP, true)
	if err := l.Flush(); err != ErrClosed {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}

	l = openTest(t, Options{Path: path})
	if n := countDecisions(t, l); n != 100 {
		t.Errorf("%d decisions after reopening, want 100", n)
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "pixelwall")
	path := filepath.Join(dir, "blocks.db")
	l := openTest(t, Options{Path: path})
	l.Add(Entry{Kind: "blocked"})
	flush(t, l) // the WAL and its index exist now
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {path, 0o600}, {path + "-wal", 0o600}, {path + "-shm", 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.mode {
			t.Errorf("%s: mode %v, want %v", c.path, got, c.mode)
		}
	}
}

func TestManyWriters(t *testing.T) {
	const writers, each = 8, 2000
	l := openTest(t, Options{QueueSize: writers * each})
	ctx := context.Background()

	stop := make(chan struct{})
	readerDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				readerDone <- nil
				return
			default:
			}
			if _, err := l.Query(ctx, Filter{Layer: LayerHTTP, Limit: 50}); err != nil {
				readerDone <- err
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				l.Add(Entry{Layer: LayerHTTP, Kind: "blocked", Client: fmt.Sprintf("10.0.0.%d", w),
					Host: fmt.Sprintf("h%d.test", i%50), URL: fmt.Sprintf("https://h.test/p?i=%d", i)})
				l.Count(LayerHTTP, false)
			}
		})
	}
	wg.Wait()
	flush(t, l)
	close(stop)
	if err := <-readerDone; err != nil {
		t.Fatalf("concurrent reader: %v", err)
	}
	if d := l.Dropped(); d != 0 {
		t.Errorf("Dropped() = %d, want 0 with a queue that holds everything", d)
	}
	// Redaction makes each writer's URLs the same, so its entries fold
	// into one row per host; the decisions are all there.
	if n := countDecisions(t, l); n != writers*each {
		t.Errorf("%d decisions stored, want %d", n, writers*each)
	}
	if n := l.stored.Load(); n != writers*each {
		t.Errorf("stored counter = %d, want %d", n, writers*each)
	}
	if n := countEntries(t, l); n < writers*50 || n >= writers*each {
		t.Errorf("%d rows stored, want at least one per client and host (%d) and fewer than the %d entries", n, writers*50, writers*each)
	}
	got := top(t, l, "clients", Filter{}, 100)
	if len(got) != writers {
		t.Fatalf("Top clients = %v, want %d clients", got, writers)
	}
	for _, c := range got {
		if c.N != each {
			t.Errorf("client %s has %d entries, want %d", c.Key, c.N, each)
		}
	}
	var total int64
	if err := l.r.QueryRow("SELECT SUM(total) FROM counts").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if want := int64(2 * writers * each); total != want {
		t.Errorf("counted %d decisions, want %d (entries plus Count calls)", total, want)
	}
}

func TestTinyQueueNeverBlocks(t *testing.T) {
	l := openTest(t, Options{QueueSize: 1})
	const n = 10_000 // entries; every other one stands for 3 decisions
	start := time.Now()
	for i := range n {
		l.Add(Entry{Layer: LayerHTTP, Kind: "blocked", Host: "t.test", URL: fmt.Sprintf("https://t.test/?i=%d", i), Count: int64(1 + i%2*2)})
	}
	// A blocking Add would never return; the bound only has to be far
	// above a loaded CI machine's worst case.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("%d Adds with QueueSize 1 took %v: Add waits for the writer", n, d)
	}
	flush(t, l)
	dropped := l.Dropped()
	if dropped == 0 {
		t.Error("Dropped() = 0, want drops with a queue of 1")
	}
	const decisions = 2 * n
	if stored := countDecisions(t, l); stored+int64(dropped) != decisions {
		t.Errorf("stored %d + dropped %d = %d decisions, want %d", stored, dropped, stored+int64(dropped), decisions)
	}
	if stored := l.stored.Load(); stored+dropped != decisions {
		t.Errorf("stored counter %d + dropped %d = %d decisions, want %d", stored, dropped, stored+dropped, decisions)
	}
}

func TestRetention(t *testing.T) {
	clk := newClock(base)
	l := openTest(t, Options{Now: clk.Now, Retention: 24 * time.Hour})
	ctx := context.Background()
	for _, age := range []time.Duration{0, time.Hour, 20 * time.Hour, 30 * time.Hour, 72 * time.Hour} {
		l.Add(Entry{Time: base.Add(-age), Layer: LayerHTTP, Kind: "blocked", Detail: age.String()})
	}
	flush(t, l)
	if n := countEntries(t, l); n != 5 {
		t.Fatalf("%d entries before cleanup, want 5", n)
	}

	if err := l.cleanup(ctx); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if got := details(query(t, l, Filter{})); !reflect.DeepEqual(got, []string{"0s", "1h0m0s", "20h0m0s"}) {
		t.Errorf("after cleanup at +0: %v", got)
	}

	clk.Set(base.Add(5 * time.Hour)) // 20h entry now 25h old
	if err := l.cleanup(ctx); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if got := details(query(t, l, Filter{})); !reflect.DeepEqual(got, []string{"0s", "1h0m0s"}) {
		t.Errorf("after cleanup at +5h: %v", got)
	}
	var oldest int64
	if err := l.r.QueryRow("SELECT MIN(minute) FROM counts").Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	if want := minuteOf(base.Add(5*time.Hour - 24*time.Hour)); oldest < want {
		t.Errorf("oldest count is minute %d, want >= %d", oldest, want)
	}
}

func TestRetentionAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blocks.db")
	clk := newClock(base)
	l := openTest(t, Options{Path: path, Now: clk.Now})
	// Different details: identical entries would fold into one row with
	// the older time.
	l.Add(Entry{Time: base.Add(-40 * 24 * time.Hour), Kind: "blocked", Detail: "old"})
	l.Add(Entry{Time: base, Kind: "blocked", Detail: "new"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, Options{Path: path, Now: clk.Now}) // default retention: 30 days
	flush(t, l)                                        // runs after the writer's first cleanup
	if got := details(query(t, l, Filter{})); !reflect.DeepEqual(got, []string{"new"}) {
		t.Errorf("entries after reopening: %v, want [new]", got)
	}
}

func details(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Detail)
	}
	return out
}

func TestMaxBytes(t *testing.T) {
	const maxBytes = 256 << 10
	path := filepath.Join(t.TempDir(), "blocks.db")
	l := openTest(t, Options{Path: path, MaxBytes: maxBytes})
	const n = 3000
	for i := range n {
		l.Add(Entry{Time: base.Add(time.Duration(i) * time.Second), Layer: LayerHTTP, Kind: "blocked",
			Host: fmt.Sprintf("h%d.tracker.test", i%300), URL: fmt.Sprintf("https://h%d.tracker.test/pixel/%d.gif", i%300, i),
			Client: "192.0.2.1", Rule: fmt.Sprintf("||h%d.tracker.test^", i%300), List: "easylist"})
		if i%100 == 99 {
			flush(t, l)
		}
	}
	flush(t, l)
	count, free, err := l.pages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if used := (count - free) * l.pageSize; used > maxBytes {
		t.Errorf("%d bytes in use, want <= %d", used, maxBytes)
	}
	// Every URL differs, so nothing folds and the decisions kept are the
	// newest rows.
	stored := countDecisions(t, l)
	if rows := countEntries(t, l); rows != stored {
		t.Fatalf("%d rows for %d decisions: entries folded", rows, stored)
	}
	if stored == 0 || stored >= n {
		t.Fatalf("%d entries stored, want some but fewer than %d", stored, n)
	}
	// The newest are kept, the oldest gone.
	got := query(t, l, Filter{Limit: 1})
	if want := base.Add((n - 1) * time.Second); len(got) != 1 || !got[0].Time.Equal(want) {
		t.Errorf("newest entry %v, want the last one added at %v", got, want)
	}
	var oldest int64
	if err := l.r.QueryRow("SELECT MIN(time) FROM entries").Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	if want := base.Add(time.Duration(n-stored) * time.Second).UnixNano(); oldest != want {
		t.Errorf("oldest entry at %v, want %v: the oldest should go first", fromNanos(oldest).UTC(), fromNanos(want).UTC())
	}
	t.Logf("%d of %d entries kept under %d bytes", stored, n, maxBytes)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > maxBytes {
		t.Errorf("file is %d bytes after Close, want <= %d", fi.Size(), maxBytes)
	}
}

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	l := openTest(t, Options{JSON: &buf})
	want := fullEntry()
	want.URL = "https://shop.example/item/3?email=a%40b.c"
	l.Add(want)
	for i := range 9 {
		l.Add(Entry{Layer: LayerDNS, Kind: "blocked", Host: fmt.Sprintf("h%d.test", i), Type: "A"})
	}
	flush(t, l)

	sc := bufio.NewScanner(&buf)
	var lines int
	for sc.Scan() {
		lines++
		var obj map[string]any
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
			t.Fatalf("line %d is not a JSON object: %v: %s", lines, err, sc.Bytes())
		}
		if obj["id"] == nil || obj["kind"] != "blocked" && obj["kind"] != "params-stripped" {
			t.Errorf("line %d: %s", lines, sc.Bytes())
		}
		if lines == 1 {
			var e Entry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if e.URL != "https://shop.example/item/3?email=…" {
				t.Errorf("JSON URL = %q, want it redacted", e.URL)
			}
			if !reflect.DeepEqual(e.Removed, want.Removed) || e.CloakedBy != want.CloakedBy || !e.Time.Equal(want.Time) {
				t.Errorf("JSON entry %+v, want %+v", e, want)
			}
		}
	}
	if lines != 10 {
		t.Errorf("%d JSON lines, want 10", lines)
	}
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blocks.db")
	w := openTest(t, Options{Path: path})
	w.Add(Entry{Layer: LayerHTTP, Kind: "blocked", Host: "first.test"})
	flush(t, w)

	r, err := OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	defer r.Close()
	ctx := context.Background()
	if got := query(t, r, Filter{}); len(got) != 1 || got[0].Host != "first.test" {
		t.Fatalf("read-only Query = %+v, want first.test", got)
	}

	// Written after the reader opened: seen too.
	w.Add(Entry{Layer: LayerHTTP, Kind: "blocked", Host: "second.test"})
	flush(t, w)
	if got := query(t, r, Filter{}); len(got) != 2 || got[0].Host != "second.test" {
		t.Fatalf("read-only Query = %+v, want second.test first", got)
	}

	if _, err := r.r.Exec("DELETE FROM entries"); err == nil {
		t.Error("a read-only connection could delete entries")
	}
	r.Add(Entry{Kind: "blocked", Host: "ignored.test"})
	r.Count(LayerHTTP, true)
	if err := r.Flush(); err != nil {
		t.Errorf("Flush on read-only: %v", err)
	}
	if _, err := r.Purge(ctx, time.Time{}); err == nil {
		t.Error("Purge on a read-only log succeeded")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := countEntries(t, w); n != 2 {
		t.Errorf("%d entries, want 2", n)
	}

	// And when no writer has it open.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err = OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly of a closed log: %v", err)
	}
	defer r.Close()
	if got := query(t, r, Filter{}); len(got) != 2 {
		t.Errorf("read-only Query after the writer closed = %d entries, want 2", len(got))
	}

	if _, err := OpenReadOnly(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("OpenReadOnly of a missing file succeeded")
	}
}

func TestPurge(t *testing.T) {
	l := openTest(t, Options{})
	ctx := context.Background()
	// Ten rows, an hour apart, each folded from two entries.
	for i := range 10 {
		for range 2 {
			l.Add(Entry{Time: base.Add(time.Duration(i) * time.Hour), Layer: LayerHTTP, Kind: "blocked", Detail: fmt.Sprint(i)})
		}
	}
	l.Count(LayerHTTP, false)
	n, err := l.Purge(ctx, base.Add(4*time.Hour))
	if err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if n != 8 {
		t.Errorf("Purge reported %d decisions, want 8 (4 rows of 2)", n)
	}
	if got, decisions := countEntries(t, l), countDecisions(t, l); got != 6 || decisions != 12 {
		t.Errorf("%d rows (%d decisions) left, want 6 (12)", got, decisions)
	}
	last := query(t, l, Filter{Limit: 1})[0].ID

	l.Add(Entry{Layer: LayerHTTP, Kind: "blocked", Count: 5})
	if n, err = l.Purge(ctx, time.Time{}); err != nil {
		t.Fatalf("Purge everything: %v", err)
	}
	if n != 17 {
		t.Errorf("Purge everything reported %d decisions, want 17 (12 + 5 Added just before)", n)
	}
	var counts int64
	if err := l.r.QueryRow("SELECT COUNT(*) FROM counts").Scan(&counts); err != nil {
		t.Fatal(err)
	}
	if got := countEntries(t, l); got != 0 || counts != 0 {
		t.Errorf("%d entries and %d counts left, want none", got, counts)
	}

	// IDs are not reused: a follower after the purge sees new entries.
	l.Add(Entry{Layer: LayerHTTP, Kind: "blocked"})
	flush(t, l)
	if got := query(t, l, Filter{AfterID: last}); len(got) != 1 {
		t.Errorf("Query(AfterID %d) after purge = %d entries, want 1", last, len(got))
	}
}

func TestFlushReportsErrors(t *testing.T) {
	l := openTest(t, Options{JSON: failingWriter{}})
	l.Add(Entry{Kind: "blocked"})
	if err := l.Flush(); err == nil {
		t.Error("Flush with a failing JSON writer returned nil")
	}
	if err := l.Flush(); err != nil {
		t.Errorf("second Flush = %v, want the error reported once", err)
	}
	if n := countEntries(t, l); n != 1 {
		t.Errorf("%d entries, want 1 stored despite the JSON error", n)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "blocks.db")
	l := openTest(t, Options{Path: path})
	if _, err := l.w.Exec(fmt.Sprintf("PRAGMA user_version = %d", schemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(Options{Path: path}); err == nil {
		l.Close()
		t.Error("Open of a newer schema succeeded")
	}
	if l, err := OpenReadOnly(path); err == nil {
		l.Close()
		t.Error("OpenReadOnly of a newer schema succeeded")
	}
}
