package blocklog

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Figures measured on the project's machine (2 cores, linux/amd64, Go 1.26,
// modernc.org/sqlite v1.61.1) with `go test -run ^$ -bench . ./proxy/blocklog`.

// BenchmarkAdd is the hot path: redaction, anonymisation and the queue
// send, with a goroutine draining the queue as the writer would.
//
// Measured:
func BenchmarkAdd(b *testing.B) {
	l := newLog(Options{QueueSize: DefaultQueueSize, AnonymizeClients: true, Now: time.Now})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range l.queue {
		}
	}()
	e := Entry{Layer: LayerHTTP, Kind: "blocked", Client: "192.168.1.77", Method: "GET", Host: "px.tracker.example",
		URL:  "https://px.tracker.example/collect?v=2&tid=UA-1234-5&cid=555.666&dl=https%3A%2F%2Fshop.test%2F&ul=en-us",
		Type: "image", Source: "shop.test", Rule: "||tracker.example^", List: "easyprivacy", Response: "gif"}
	b.ReportAllocs()
	for b.Loop() {
		l.Add(e)
	}
	b.StopTimer()
	close(l.queue)
	<-done
	if d := l.Dropped(); d > 0 {
		b.Logf("%d of %d dropped", d, b.N)
	}
}

// BenchmarkRedactURL is the redaction alone.
//
// Measured:
func BenchmarkRedactURL(b *testing.B) {
	const u = "https://px.tracker.example/collect?v=2&tid=UA-1234-5&cid=555.666&dl=https%3A%2F%2Fshop.test%2F&ul=en-us#top"
	b.ReportAllocs()
	for b.Loop() {
		redactURL(u)
	}
}

// BenchmarkStore is the writer's pace: batches of 1,000 realistic entries,
// each stored in one transaction with the prepared insert, the counts
// upsert and the size-cap check, into a growing database.
//
// Measured:
func BenchmarkStore(b *testing.B) {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "blocks.db"), Now: benchNow})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	g := newGenerator(1)
	batch := make([]Entry, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			batch[i] = g.entry()
		}
		if err := l.flush(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkQuery1M times the reads over a database of a million entries
// spread over 48 hours (about 5,000 hosts, 200 clients, 50 rules), built
// once and cached (see benchDB).
//
// Measured:
func BenchmarkQuery1M(b *testing.B) {
	l := benchDB(b)
	ctx := context.Background()
	since := benchBase.Add(-24 * time.Hour)
	for _, bc := range []struct {
		name string
		run  func() (int, error)
	}{
		{"TopHosts24h", func() (int, error) {
			top, err := l.Top(ctx, "hosts", Filter{Since: since}, 10)
			return len(top), err
		}},
		{"TopClients24h", func() (int, error) {
			top, err := l.Top(ctx, "clients", Filter{Since: since}, 10)
			return len(top), err
		}},
		{"TopRules24h", func() (int, error) {
			top, err := l.Top(ctx, "rules", Filter{Since: since}, 10)
			return len(top), err
		}},
		{"TopHosts1h", func() (int, error) {
			top, err := l.Top(ctx, "hosts", Filter{Since: benchBase.Add(-time.Hour)}, 10)
			return len(top), err
		}},
		{"TopHostsAll", func() (int, error) {
			top, err := l.Top(ctx, "hosts", Filter{}, 10)
			return len(top), err
		}},
		{"QueryNewest", func() (int, error) {
			es, err := l.Query(ctx, Filter{})
			return len(es), err
		}},
		{"QueryHost24h", func() (int, error) {
			es, err := l.Query(ctx, Filter{Host: "tracker0.example", Since: since})
			return len(es), err
		}},
		{"QuerySearch", func() (int, error) {
			es, err := l.Query(ctx, Filter{Search: "h4999.", Since: since})
			return len(es), err
		}},
		{"Series24hBy10m", func() (int, error) {
			ps, err := l.Series(ctx, since, 10*time.Minute, "")
			return len(ps), err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n, err := bc.run()
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					b.Fatal("no results")
				}
			}
		})
	}
}

// benchBase is the newest entry's time in the benchmark database; fixed
// so that a cached database answers the same.
var benchBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func benchNow() time.Time { return benchBase }

// Benchmark database.
const (
	benchEntries = 1_000_000
	benchSpread  = 48 * time.Hour
	benchHosts   = 5000
	benchClients = 200
	benchRules   = 50
	// benchGenVersion changes when the generator does.
	benchGenVersion = 1
)

// benchDB opens the million-entry database read-only (as `pixelwall logs`
// would). It is built in b.TempDir() the first time and kept under
// os.TempDir(), keyed by the schema and generator versions, for later runs.
func benchDB(b *testing.B) *Log {
	b.Helper()
	cache := filepath.Join(os.TempDir(), fmt.Sprintf("pixelwall-blocklog-bench-s%d-g%d.db", schemaVersion, benchGenVersion))
	if _, err := os.Stat(cache); err != nil {
		path := filepath.Join(b.TempDir(), "blocks.db")
		start := time.Now()
		if err := buildBenchDB(path); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %d entries in %v (%.0f entries/s)", benchEntries, time.Since(start),
			benchEntries/time.Since(start).Seconds())
		if err := copyFile(path, cache+".tmp"); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(cache+".tmp", cache); err != nil {
			b.Fatal(err)
		}
	}
	l, err := OpenReadOnly(cache)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// buildBenchDB writes benchEntries entries to path through the writer's
// own store, in batches.
func buildBenchDB(path string) error {
	l, err := Open(Options{Path: path, Now: benchNow, MaxBytes: 8 << 30})
	if err != nil {
		return err
	}
	g := newGenerator(benchGenVersion)
	ctx := context.Background()
	batch := make([]Entry, maxBatch)
	for done := 0; done < benchEntries; {
		n := min(len(batch), benchEntries-done)
		for i := range n {
			// Evenly spread over benchSpread, oldest first.
			batch[i] = g.entry()
			batch[i].Time = benchBase.Add(-benchSpread + time.Duration(done+i)*(benchSpread/benchEntries))
		}
		if err := l.flush(ctx, batch[:n]); err != nil {
			l.Close()
			return err
		}
		done += n
	}
	return l.Close()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// generator makes realistic entries: hosts, clients and rules drawn from
// skewed distributions, mostly HTTP blocks.
type generator struct {
	r                     *rand.Rand
	hosts, clients, rules *rand.Zipf
}

func newGenerator(seed uint64) *generator {
	r := rand.New(rand.NewPCG(seed, 42))
	return &generator{
		r:       r,
		hosts:   rand.NewZipf(r, 1.1, 1, benchHosts-1),
		clients: rand.NewZipf(r, 1.2, 1, benchClients-1),
		rules:   rand.NewZipf(r, 1.3, 1, benchRules-1),
	}
}

func (g *generator) entry() Entry {
	h := g.hosts.Uint64()
	host := fmt.Sprintf("h%d.tracker%d.example", h, h%97)
	e := Entry{
		Time:   benchBase,
		Layer:  LayerHTTP,
		Kind:   "blocked",
		Client: fmt.Sprintf("10.0.0.%d", g.clients.Uint64()+1),
		Method: "GET",
		Host:   host,
		URL:    fmt.Sprintf("https://%s/collect?v=…&cid=…&n=…", host),
		Type:   "image",
		Source: fmt.Sprintf("site%d.test", g.r.IntN(300)),
		Rule:   fmt.Sprintf("||tracker%d.example^", g.rules.Uint64()),
		List:   []string{"easylist", "easyprivacy", "adguard", "peter-lowe"}[g.r.IntN(4)],
		Bytes:  int64(g.r.IntN(50_000)),
	}
	switch p := g.r.IntN(100); {
	case p < 40:
		e.Layer, e.Method, e.URL, e.Type, e.Source, e.Bytes = LayerDNS, "", "", "A", "", 0
	case p < 50:
		e.Kind, e.Rule, e.Removed = "params-stripped", "$removeparam=utm_source", []string{"utm_source", "fbclid"}
	case p < 55:
		e.Kind, e.Rule, e.List, e.Detail = "heuristic", "", "", "1x1 image"
	}
	return e
}
