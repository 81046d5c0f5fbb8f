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

// schemaVersion is the schema's version, kept in PRAGMA user_version.
const schemaVersion = 3

// schemaV1 is the first schema.
//
// Times are Unix nanoseconds. rhost is host with its labels reversed
// ("www.example.com" → "com.example.www") so that a host and its subdomains
// are one index range. removed is a JSON array of names, or empty. ids come
// from AUTOINCREMENT so they are never reused, even after a purge, which
// `logs -follow` (Filter.AfterID) relies on.
const schemaV1 = `CREATE TABLE entries (
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
		bytes      INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX entries_time ON entries (time);
	CREATE INDEX entries_rhost_time ON entries (rhost, time);
	CREATE INDEX entries_client_time ON entries (client, time);
	CREATE INDEX entries_kind_time ON entries (kind, time);
	CREATE INDEX entries_rule_time ON entries (rule, time);
	CREATE INDEX entries_list_time ON entries (list, time);
	CREATE TABLE counts (
		minute  INTEGER NOT NULL,
		layer   TEXT NOT NULL,
		total   INTEGER NOT NULL,
		blocked INTEGER NOT NULL,
		PRIMARY KEY (minute, layer)
	) WITHOUT ROWID;`

// schemaV2 drops the rule and list indexes: every index is paid for on
// every insert, one per block, and queries by rule or list come with a time
// range (the dashboard's and `logs`'s default is a day) that the time index
// serves. Measured: storing 51k → 71k entries/s.
const schemaV2 = `DROP INDEX IF EXISTS entries_rule_time;
	DROP INDEX IF EXISTS entries_list_time;`

// schemaV3 adds n, how many identical decisions a row stands for (see
// Entry.Count): the writer folds repeated decisions into one row. Rows
// stored before it stand for one decision each; SQLite adds a column with
// a constant default without rewriting the table.
//
// Top sums n where it used to count rows, and the host, client and kind
// indexes served it alone (covering); without n they would send it to
// the table for every row: 10x slower over a million entries (Top hosts
// over 24h 0.1 s → 1 s). So they are rebuilt with n at their end, which
// costs a few seconds per million entries, once, and an insert next to
// nothing (n = 1 takes no bytes in a record).
const schemaV3 = `ALTER TABLE entries ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
	DROP INDEX entries_rhost_time;
	DROP INDEX entries_client_time;
	DROP INDEX entries_kind_time;
	CREATE INDEX entries_rhost_time ON entries (rhost, time, n);
	CREATE INDEX entries_client_time ON entries (client, time, n);
	CREATE INDEX entries_kind_time ON entries (kind, time, n);`

// migrations()[i] brings the schema from version i to i+1.
func migrations() []string { return []string{schemaV1, schemaV2, schemaV3} }

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
		"&_pragma=cache_size(-8192)" + // 8 MiB per connection: 32 MiB held 60 MiB of RSS after a DNS flood; the OS page cache serves the rest
		"&_pragma=temp_store(MEMORY)"
	if readOnly {
		q += "&mode=ro"
	} else {
		// Checkpoint every 32 MiB of WAL rather than 4 MiB: hot index
		// pages are copied to the database once instead of many times.
		q += "&_pragma=wal_autocheckpoint(8192)"
	}
	return u.String() + "?" + q
}

// prepareWriter migrates the schema and prepares the writer's statements.
func (l *Log) prepareWriter(ctx context.Context) error {
	if err := migrate(ctx, l.w); err != nil {
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

// migrate puts db in WAL mode and brings its schema to schemaVersion.
func migrate(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if version > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this program's %d", version, schemaVersion)
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
	for v := version; v < schemaVersion; v++ {
		if err := migrateTo(ctx, db, v+1); err != nil {
			return err
		}
	}
	return nil
}

// migrateTo applies migrations()[v-1] and sets the schema version to v, in
// one transaction.
func migrateTo(ctx context.Context, db *sql.DB, v int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrating schema to version %d: %w", v, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, migrations()[v-1]); err != nil {
		return fmt.Errorf("migrating schema to version %d: %w", v, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		return fmt.Errorf("migrating schema to version %d: setting version: %w", v, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating schema to version %d: committing: %w", v, err)
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
