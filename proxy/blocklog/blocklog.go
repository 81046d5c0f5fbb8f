// Package blocklog is pixelwall's durable block log: every decision the
// proxy and the resolver report is kept in a SQLite database (pure Go, no
// cgo) for review, statistics and charts.
//
// Add is the hot path: it redacts the entry and hands it to a bounded queue
// without ever blocking. A writer goroutine collects the queue into
// batches and a storer goroutine writes each in one transaction, at least
// every FlushInterval, so a crash loses at most about a second of entries.
// Retention and a size cap keep the database bounded.
//
// Repeated decisions are folded: the entries of one batch that differ only
// in their time are stored as one row with a count (Entry.Count), because
// a flood of the same few blocks (a resolver answering the same blocked
// names thousands of times a second, a pixel on every page view) would
// otherwise cost one INSERT each. Top, Series, Purge and Dropped count
// decisions, not rows.
//
// Refusals (see Refusal) are folded harder, across batches: one row per
// layer, kind, client and minute, whatever was asked, so that a client
// refused thousands of times cannot push real entries out past the size
// cap.
//
// Privacy: URL query values are replaced by "…" (parameter names are kept)
// and client addresses can be truncated to their network, both before
// anything is stored or written as JSON.
//
// The package imports neither the proxy nor the resolver: the command that
// wires them converts their events into Entry values.
package blocklog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Entry is one decision of the proxy (Layer "http") or the resolver
// (Layer "dns"), or, when Count is more than 1, that many identical
// decisions. It is a plain value: Add copies it, Query returns copies.
type Entry struct {
	ID       int64     `json:"id,omitempty"` // set when stored or read back
	Time     time.Time `json:"time"`
	Layer    string    `json:"layer"` // "http" or "dns"
	Kind     Kind      `json:"kind"`  // what was decided
	Client   string    `json:"client,omitempty"`
	Method   string    `json:"method,omitempty"`
	Host     string    `json:"host,omitempty"`
	URL      string    `json:"url,omitempty"`    // query values redacted unless Options.KeepQueryValues
	Type     string    `json:"type,omitempty"`   // request or query type: image, script, A, AAAA, HTTPS, …
	Source   string    `json:"source,omitempty"` // the page's host
	Rule     string    `json:"rule,omitempty"`
	List     string    `json:"list,omitempty"`
	Response string    `json:"response,omitempty"`
	Removed  []string  `json:"removed,omitempty"` // stripped parameter names
	// CloakedBy is the tracker name found in a CNAME chain.
	CloakedBy string `json:"cloaked_by,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Bytes     int64  `json:"bytes,omitempty"` // bytes avoided
	// Count is how many identical decisions the entry stands for. Add
	// takes 0 (or less) to mean 1, and a caller that has already folded
	// decisions may pass more. The writer stores the entries of one batch
	// that are equal in every field but ID, Time and Count as one row,
	// whose Count is the sum of theirs and whose Time is the earliest of
	// theirs, so an entry returned by Query may stand for many decisions,
	// usually made within one flush interval (FlushInterval, or less when
	// a batch fills up). Entries that have been through Add, and those
	// Query returns, have a Count of at least 1.
	//
	// A refusal's row (see Refusal) stands for every refusal of its layer
	// and kind to its client within one minute, whatever else differed;
	// its other fields are the first one's, as an example.
	Count int64 `json:"count,omitempty"`
}

// Layers of Entry.Layer.
const (
	LayerHTTP = "http"
	LayerDNS  = "dns"
)

// Options configure Open. The zero value of each field is a sensible
// default, except Path, which is required. Open copies them; changing them
// afterwards has no effect.
type Options struct {
	// Path is the SQLite file. Its parent directory is created with mode
	// 0700 and the file with mode 0600.
	Path string
	// Retention is how long entries are kept; default 30 days. Older
	// entries (and per-minute counts) are deleted at open and hourly.
	Retention time.Duration
	// MaxBytes caps the size of the database; default 1 GiB. Past it the
	// oldest entries are deleted until it is 10% below the cap.
	MaxBytes int64
	// QueueSize is how many entries may wait for the writer; default
	// 4096 (the writer only folds them into its batch; storing happens on
	// another goroutine, so the queue need only cover short stalls). When
	// the queue is full, Add drops the entry and counts its decisions (see
	// Dropped).
	QueueSize int
	// FlushInterval is the longest an entry waits before it is stored;
	// default 500ms, so a kill -9 loses at most about a second. Under a
	// flood of repeated decisions (a resolver asked for the same few
	// thousand names over and over), when a store takes long and its
	// batch folded at least two decisions a row, the writer waits longer
	// between stores: ten times the last store's time, at most
	// MaxStoreSpacing, as long as the batch holds at least a thousand rows.
	// Storing then takes about a tenth of the time and the longer wait
	// folds more decisions into each row.
	FlushInterval time.Duration
	// KeepQueryValues stores URLs as they are. By default every query
	// value is replaced by "…" and only parameter names are kept.
	KeepQueryValues bool
	// AnonymizeClients truncates client addresses: IPv4 to its /24 (last
	// octet 0), IPv6 to its /48.
	AnonymizeClients bool
	// JSON, when set, also receives every entry as one JSON object per
	// line (for log shippers). Lines are not folded: there is one per
	// entry Added, with its own time and its own "count" (1 unless the
	// caller passed more), so that a shipper sees each decision; "id" is
	// the stored row's, which folded entries share. It is written by the
	// writer goroutine only, after the entry is stored; a slow writer
	// slows the store.
	JSON io.Writer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultRetention     = 30 * 24 * time.Hour
	DefaultMaxBytes      = 1 << 30
	DefaultQueueSize     = 4096
	DefaultFlushInterval = 500 * time.Millisecond
)

const (
	// maxBatch is how many rows (entries, once folded) the writer stores
	// at most in one transaction before it stores them without waiting
	// for the tick. It is as large as it is so that a flood of distinct
	// names (a resolver under load) still folds over a flush interval.
	maxBatch = 16384
	// MaxStoreSpacing bounds how long the writer waits between two stores
	// when storing is slow (see Options.FlushInterval).
	MaxStoreSpacing = 5 * time.Second
	// storeShare is the inverse of the share of time the writer lets
	// storing take: after a store that took d, it waits storeShare·d.
	storeShare = 10
	// foldGain is how many decisions a row the last batch must have
	// folded for the writer to wait longer: distinct entries (URLs with
	// their own paths) cost a row each however long it waits.
	foldGain = 2
	// spacedRows is how many rows a batch must hold to wait longer: a
	// smaller one, once a flood is over, goes at the flush interval.
	spacedRows = 1024
	// cleanupPeriod is how often retention and the size cap are enforced
	// by the writer (the cap is also checked after every flush).
	cleanupPeriod = time.Hour
)

// ErrClosed is returned by Flush and Purge on a closed Log.
var ErrClosed = errors.New("blocklog: log is closed")

// Log is a block log. All its methods are safe for concurrent use. Add and
// Count never block; queries run concurrently with the writer (SQLite's WAL
// lets readers go on while it writes).
type Log struct {
	opts     Options
	now      func() time.Time
	readOnly bool

	r *sql.DB // readers
	w *sql.DB // the one writing connection; nil when read-only

	// The queue: Add appends under pendMu and, when the queue was empty,
	// wakes the writer, which takes everything at once after a moment.
	// A channel would wake the writer for nearly every entry under load
	// (it drains faster than Adds arrive), a goroutine wake-up per blocked
	// query.
	pendMu   sync.Mutex
	pending  []Entry
	wake     chan struct{} // capacity 1
	flushReq chan chan error
	done     chan struct{} // closed by Close
	stopped  chan struct{} // closed when the writer has returned
	closed   atomic.Bool
	dropped  atomic.Uint64 // decisions lost (see Dropped)
	stored   atomic.Uint64 // decisions committed by this Log (for tests)
	// lastStore is how long the storer took over the last batch that had
	// rows, in nanoseconds, or 0 if that batch folded fewer than foldGain
	// decisions a row (see spacing).
	lastStore atomic.Int64
	closeErr  error
	once      sync.Once

	countMu sync.Mutex
	counts  map[countKey]counter // decisions counted since the last flush

	// Owned by the storer goroutine (see run).
	insert *sql.Stmt
	upsert *sql.Stmt
	bump   *sql.Stmt
	// refusalRows are the rows of this and the last minute's refusals,
	// which later refusals of the same minute add their counts to.
	refusalRows map[foldKey]int64
	enc         *json.Encoder // on Options.JSON
	pageSize    int64
	err         error // first background error not yet reported by Flush or Close
}

// countKey is one row of the counts table.
type countKey struct {
	minute int64 // Unix time / 60
	layer  string
}

type counter struct{ total, blocked int64 }

// Open opens (creating it if need be) the block log at opts.Path, brings
// its schema up to date and starts the writer. The database is in WAL mode
// with synchronous=NORMAL, so other processes may read it with
// OpenReadOnly while this one writes. Close must be called to stop the
// writer and store what is queued.
func Open(opts Options) (*Log, error) {
	if opts.Path == "" {
		return nil, errors.New("blocklog: Options.Path is required")
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	path, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("blocklog: resolving path %q: %w", opts.Path, err)
	}
	if err := createFile(path); err != nil {
		return nil, err
	}

	l := newLog(opts)
	l.w, err = sql.Open(driverName, dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("blocklog: opening %s: %w", path, err)
	}
	// One writing connection: the writer goroutine, Purge and the cleanup
	// take turns on it instead of fighting over SQLite's write lock.
	l.w.SetMaxOpenConns(1)
	l.w.SetConnMaxIdleTime(0)
	l.w.SetConnMaxLifetime(0)
	if err := l.prepareWriter(context.Background()); err != nil {
		l.w.Close()
		return nil, fmt.Errorf("blocklog: opening %s: %w", path, err)
	}
	l.r, err = sql.Open(driverName, dsn(path, false)+"&_pragma=query_only(1)")
	if err != nil {
		l.w.Close()
		return nil, fmt.Errorf("blocklog: opening %s for reading: %w", path, err)
	}
	go l.run()
	return l, nil
}

// OpenReadOnly opens an existing block log for queries only, for example
// while another process writes it. Add and Count on it do nothing, Flush
// returns nil and Purge fails.
func OpenReadOnly(path string) (*Log, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("blocklog: resolving path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("blocklog: opening %s read-only: %w", abs, err)
	}
	l := &Log{now: time.Now, readOnly: true, opts: Options{Path: abs, Now: time.Now}}
	l.r, err = sql.Open(driverName, dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("blocklog: opening %s read-only: %w", abs, err)
	}
	var v int
	if err := l.r.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		l.r.Close()
		return nil, fmt.Errorf("blocklog: opening %s read-only: %w", abs, err)
	}
	if v != schemaVersion {
		l.r.Close()
		return nil, fmt.Errorf("blocklog: opening %s read-only: schema version %d, want %d", abs, v, schemaVersion)
	}
	return l, nil
}

// newLog sets up a writable Log's in-memory state without a database.
func newLog(opts Options) *Log {
	return &Log{
		opts:     opts,
		now:      opts.Now,
		wake:     make(chan struct{}, 1),
		flushReq: make(chan chan error),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
		counts:   make(map[countKey]counter),
	}
}

// createFile makes path's directory (0700) and the file itself (0600) if
// they do not exist, so that SQLite does not create them with looser modes.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("blocklog: creating directory of %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("blocklog: creating %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("blocklog: creating %s: %w", path, err)
	}
	return nil
}

// Add queues e for storage. It never blocks: when the queue is full the
// entry is dropped and its decisions counted (see Dropped). Query values
// in e.URL (and in e.Detail when it is a URL) are redacted and e.Client
// anonymised, as configured, before e leaves Add. A zero e.Time means now;
// an e.Count below 1 means 1. Add on a closed or read-only Log does
// nothing; an Add racing Close may be lost.
func (l *Log) Add(e Entry) {
	if l.readOnly || l.closed.Load() {
		return
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	if e.Count < 1 {
		e.Count = 1
	}
	if !l.opts.KeepQueryValues {
		e.URL = redactURL(e.URL)
		if isURL(e.Detail) {
			e.Detail = redactURL(e.Detail)
		}
	} else {
		e.URL = stripURL(e.URL)
	}
	if l.opts.AnonymizeClients {
		e.Client = anonymize(e.Client)
	}
	e.Host = normalizeHost(e.Host)
	l.pendMu.Lock()
	if len(l.pending) >= l.opts.QueueSize {
		l.pendMu.Unlock()
		l.dropped.Add(uint64(e.Count))
		return
	}
	l.pending = append(l.pending, e)
	first := len(l.pending) == 1
	l.pendMu.Unlock()
	if first {
		select {
		case l.wake <- struct{}{}:
		default: // already woken
		}
	}
}

// takePending swaps the queue for spare (emptied) and returns what was
// queued.
func (l *Log) takePending(spare []Entry) []Entry {
	l.pendMu.Lock()
	out := l.pending
	l.pending = spare[:0]
	l.pendMu.Unlock()
	return out
}

// gather is how long the writer lets entries gather once woken: a burst
// then costs one wake-up, not one per entry.
const gather = time.Millisecond

// Count counts one decision that is not stored as an entry (typically an
// allowed request) for the total/blocked chart of Series. Entries passed to
// Add are counted by the log itself and must not be counted again. Counts
// are kept per minute in memory and stored with the next flush. Count never
// blocks; on a closed or read-only Log it does nothing.
func (l *Log) Count(layer string, blocked bool) {
	if l.readOnly || l.closed.Load() {
		return
	}
	k := countKey{minute: minuteOf(l.now()), layer: layer}
	l.countMu.Lock()
	c := l.counts[k]
	c.total++
	if blocked {
		c.blocked++
	}
	l.counts[k] = c
	l.countMu.Unlock()
}

// Dropped reports how many decisions were lost (an entry counts for its
// Count): dropped by Add because the queue was full, or lost because
// storing them failed.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Flush waits until every entry Added before the call (and every decision
// Counted) is stored, and reports any error met while storing since the
// last Flush. On a read-only Log it returns nil.
func (l *Log) Flush() error {
	if l.readOnly {
		return nil
	}
	reply := make(chan error, 1)
	select {
	case l.flushReq <- reply:
	case <-l.stopped:
		return ErrClosed
	}
	// The writer always answers a request it has taken.
	return <-reply
}

// Close stores what is queued, stops the writer and closes the database.
// It reports storage errors not yet reported by Flush. Close may be called
// more than once; later calls return the first call's result.
func (l *Log) Close() error {
	l.once.Do(func() {
		l.closed.Store(true)
		var errs []error
		if !l.readOnly {
			close(l.done)
			<-l.stopped
			errs = append(errs, l.err)
			if err := l.w.Close(); err != nil {
				errs = append(errs, fmt.Errorf("blocklog: closing writer: %w", err))
			}
		}
		if err := l.r.Close(); err != nil {
			errs = append(errs, fmt.Errorf("blocklog: closing readers: %w", err))
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// Refusal reports whether a decision of this kind is a refusal of the
// client itself (not allowed, or over its rate), which the log keeps as
// one row per client and minute with a count.
func Refusal(kind Kind) bool {
	switch kind {
	case KindRefused, KindAccessRefused, KindRateLimited:
		return true
	}
	return false
}

// Blocked reports whether a decision of this kind counts as a block (in
// Series here, and in pixelwall's metrics): the request (or the tracker
// hop) never reached the tracker.
func Blocked(kind Kind) bool {
	switch kind {
	case KindBlocked, KindHeuristic, KindConnectRefused, KindUnwrapped:
		return true
	}
	return false
}

// minuteOf is t's minute number: Unix seconds / 60, rounded down.
func minuteOf(t time.Time) int64 {
	s := t.Unix()
	m := s / 60
	if s%60 < 0 {
		m--
	}
	return m
}

// normalizeHost lowercases host and drops a trailing dot.
func normalizeHost(host string) string {
	return strings.ToLower(strings.TrimSuffix(host, "."))
}
