package blocklog

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// driverName is modernc.org/sqlite's database/sql driver.
const driverName = "sqlite"

// schemaVersion is the schema's version, kept in PRAGMA user_version. A
// database with another non-zero version is refused, never altered.
const schemaVersion = 3

// schema creates the block log's tables and indexes in an empty database.
//
// Times are Unix nanoseconds. rhost is host with its labels reversed
// ("www.example.com" → "com.example.www") so that a host and its subdomains
// are one index range. removed is a JSON array of names, or empty. n is how
// many identical decisions the row stands for (see Entry.Count). ids come
// from AUTOINCREMENT so they are never reused, even after a purge, which
// `logs -follow` (Filter.AfterID) relies on.
//
// Every index is paid for on every insert, so there are only those that
// queries cannot do without: rule and list have none, as queries by them
// come with a time range that the time index serves. The host, client and
// kind indexes end with n so that Top, which sums n, reads only them.
const schema = `CREATE TABLE entries (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		time       INTEGER NOT NULL,
		layer      TEXT NOT NULL DEFAULT '',
		kind       TEXT NOT NULL DEFAULT '',
		client     TEXT NOT NULL DEFAULT '',
		method     TEXT NOT NULL DEFAULT '',
		host       TEXT NOT NULL DEFAULT '',
		rhost      TEXT NOT NULL DEFAULT '',
		url        TEXT NOT NULL DEFAULT '',
		type       TEXT NOT NULL DEFAULT '',
		source     TEXT NOT NULL DEFAULT '',
		rule       TEXT NOT NULL DEFAULT '',
		list       TEXT NOT NULL DEFAULT '',
		response   TEXT NOT NULL DEFAULT '',
		removed    TEXT NOT NULL DEFAULT '',
		cloaked_by TEXT NOT NULL DEFAULT '',
		detail     TEXT NOT NULL DEFAULT '',
		bytes      INTEGER NOT NULL DEFAULT 0,
		n          INTEGER NOT NULL DEFAULT 1
	);
	CREATE INDEX entries_time ON entries (time);
	CREATE INDEX entries_rhost_time ON entries (rhost, time, n);
	CREATE INDEX entries_client_time ON entries (client, time, n);
	CREATE INDEX entries_kind_time ON entries (kind, time, n);
	CREATE TABLE counts (
		minute  INTEGER NOT NULL,
		layer   TEXT NOT NULL,
		total   INTEGER NOT NULL,
		blocked INTEGER NOT NULL,
		PRIMARY KEY (minute, layer)
	) WITHOUT ROWID;`

// entryColumns are the stored columns of an entry, in entryArgs' order.
const entryColumns = `time, layer, kind, client, method, host, rhost, url, type, source,
	rule, list, response, removed, cloaked_by, detail, bytes, n`

const (
	insertSQL = `INSERT INTO entries (` + entryColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	bumpSQL   = `UPDATE entries SET n = n + ? WHERE id = ?`
	upsertSQL = `INSERT INTO counts (minute, layer, total, blocked) VALUES (?, ?, ?, ?)
		ON CONFLICT (minute, layer) DO UPDATE SET
			total = total + excluded.total, blocked = blocked + excluded.blocked`
)

// dsn is the driver's data source name for path: a file: URI with the
// per-connection pragmas.
func dsn(path string, readOnly bool) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path)}
	q := "_pragma=busy_timeout(10000)" +
		"&_pragma=synchronous(NORMAL)" +
		"&_pragma=cache_size(-8192)" + // per connection, KiB; the OS page cache serves the rest (README: Block log)
		"&_pragma=temp_store(MEMORY)"
	if readOnly {
		q += "&mode=ro"
	} else {
		// Checkpoint less often than SQLite's default: hot index pages
		// are copied to the database once instead of many times.
		q += "&_pragma=wal_autocheckpoint(8192)"
	}
	return u.String() + "?" + q
}

// prepareWriter creates the schema if need be and prepares the writer's statements.
func (l *Log) prepareWriter(ctx context.Context) error {
	if err := setUp(ctx, l.w); err != nil {
		return err
	}
	if err := l.w.QueryRowContext(ctx, "PRAGMA page_size").Scan(&l.pageSize); err != nil {
		return fmt.Errorf("reading page size: %w", err)
	}
	var err error
	if l.insert, err = l.w.PrepareContext(ctx, insertSQL); err != nil {
		return fmt.Errorf("preparing insert: %w", err)
	}
	if l.upsert, err = l.w.PrepareContext(ctx, upsertSQL); err != nil {
		l.insert.Close()
		return fmt.Errorf("preparing count: %w", err)
	}
	if l.bump, err = l.w.PrepareContext(ctx, bumpSQL); err != nil {
		l.insert.Close()
		l.upsert.Close()
		return fmt.Errorf("preparing refusal count: %w", err)
	}
	return nil
}

// closeStmts closes the writer's prepared statements.
func (l *Log) closeStmts() {
	l.insert.Close()
	l.upsert.Close()
	l.bump.Close()
}

// setUp puts db in WAL mode and, when it is empty, creates the schema. It
// refuses a database of another schema version.
func setUp(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if version > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this program's %d", version, schemaVersion)
	}
	if version != 0 && version != schemaVersion {
		return fmt.Errorf("schema version %d is an unreleased development version; this program reads only %d: move the file away to start a new log", version, schemaVersion)
	}
	if version == 0 {
		// Only effective before the first table is created: lets the
		// size cap and retention give space back to the file system.
		if _, err := db.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
			return fmt.Errorf("setting auto_vacuum: %w", err)
		}
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("setting WAL mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("setting WAL mode: journal mode is %q", mode)
	}
	if _, err := db.ExecContext(ctx, "PRAGMA journal_size_limit = 67108864"); err != nil {
		return fmt.Errorf("setting journal_size_limit: %w", err)
	}
	if version == 0 {
		return createSchema(ctx, db)
	}
	return nil
}

// createSchema creates the schema and sets its version, in one transaction.
func createSchema(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("creating schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("creating schema: setting version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating schema: committing: %w", err)
	}
	return nil
}

// entryArgs are e's values for insertSQL.
func entryArgs(e *Entry) []any {
	removed := ""
	if len(e.Removed) > 0 {
		b, _ := json.Marshal(e.Removed) // cannot fail for a []string
		removed = string(b)
	}
	return []any{
		e.Time.UnixNano(), e.Layer, e.Kind, e.Client, e.Method, e.Host, reverseHost(e.Host),
		e.URL, e.Type, e.Source, e.Rule, e.List, e.Response, removed, e.CloakedBy, e.Detail, e.Bytes,
		max(e.Count, 1),
	}
}

// scanEntry reads one row of entryColumns preceded by id.
func scanEntry(rows *sql.Rows) (Entry, error) {
	var (
		e              Entry
		nanos          int64
		rhost, removed string
	)
	err := rows.Scan(&e.ID, &nanos, &e.Layer, &e.Kind, &e.Client, &e.Method, &e.Host, &rhost,
		&e.URL, &e.Type, &e.Source, &e.Rule, &e.List, &e.Response, &removed, &e.CloakedBy, &e.Detail, &e.Bytes, &e.Count)
	if err != nil {
		return Entry{}, err
	}
	e.Time = fromNanos(nanos)
	if removed != "" {
		if err := json.Unmarshal([]byte(removed), &e.Removed); err != nil {
			return Entry{}, fmt.Errorf("entry %d: decoding removed parameters: %w", e.ID, err)
		}
	}
	return e, nil
}

// reverseHost reverses host's labels: "www.example.com" → "com.example.www".
// It is its own inverse.
func reverseHost(host string) string {
	if strings.IndexByte(host, '.') < 0 {
		return host
	}
	var b strings.Builder
	b.Grow(len(host))
	for end := len(host); ; {
		i := strings.LastIndexByte(host[:end], '.')
		b.WriteString(host[i+1 : end])
		if i < 0 {
			break
		}
		b.WriteByte('.')
		end = i
	}
	return b.String()
}
