package blocklog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Filter selects entries for Query and Top. Zero fields select
// everything; conditions combine with AND. It is a plain value.
type Filter struct {
	Since time.Time // entries at or after Since
	Until time.Time // entries before Until
	// Client is an exact client address (as stored, so anonymised when the
	// log anonymises).
	Client string
	// Host matches the host and its subdomains: "example.com" matches
	// "example.com" and "ads.example.com", not "badexample.com".
	Host string
	Kind Kind
	// Kinds, when not empty, selects entries of any of these kinds.
	Kinds []Kind
	Layer string
	List  string
	Rule  string
	// Search is a substring of the URL, the host or the rule,
	// case-insensitive for ASCII letters.
	Search string
	// AfterID selects entries stored after the one with this ID, oldest
	// first (for following the log). 0 is unset unless Follow is set.
	AfterID int64
	// Follow applies AfterID even when it is 0, which a follower of a log
	// that never held an entry needs (its LastID is 0).
	Follow bool
	// Limit is the most entries Query returns; default 100.
	Limit int
}

// DefaultLimit is Query's default Filter.Limit.
const DefaultLimit = 100

// where is f's WHERE clause (without the keyword, "1" when empty) and its
// arguments.
func (f Filter) where() (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if !f.Since.IsZero() {
		add("time >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("time < ?", f.Until.UnixNano())
	}
	if f.Client != "" {
		add("client = ?", f.Client)
	}
	if h := normalizeHost(f.Host); h != "" {
		// One index range over the host and its subdomains, then the
		// exclusion of siblings such as "com.example-x" (labels
		// reversed) that sort between "com.example" and "com.example.".
		r := reverseHost(h)
		add("rhost >= ? AND rhost < ? AND (rhost = ? OR rhost >= ?)", r, r+"/", r, r+".")
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if len(f.Kinds) > 0 {
		marks := strings.Repeat(", ?", len(f.Kinds))[2:]
		a := make([]any, len(f.Kinds))
		for i, k := range f.Kinds {
			a[i] = k
		}
		add("kind IN ("+marks+")", a...)
	}
	if f.Layer != "" {
		add("layer = ?", f.Layer)
	}
	if f.List != "" {
		add("list = ?", f.List)
	}
	if f.Rule != "" {
		add("rule = ?", f.Rule)
	}
	if f.Search != "" {
		p := "%" + escapeLike(f.Search) + "%"
		add(`(url LIKE ? ESCAPE '\' OR host LIKE ? ESCAPE '\' OR rule LIKE ? ESCAPE '\')`, p, p, p)
	}
	if f.AfterID > 0 || f.Follow {
		add("id > ?", f.AfterID)
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

// escapeLike escapes LIKE's wildcards in s, with \ as the escape.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// querySQL is Query's statement for f.
func querySQL(f Filter) (string, []any) {
	where, args := f.where()
	order := "time DESC, id DESC"
	if f.AfterID > 0 || f.Follow {
		order = "id"
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	q := "SELECT id, " + entryColumns + " FROM entries WHERE " + where +
		" ORDER BY " + order + " LIMIT ?"
	return q, append(args, limit)
}

// Query returns the entries f selects, newest first, or oldest first when
// f.AfterID or f.Follow is set. Each is a stored row, which may stand for
// several identical decisions (see Entry.Count); f.Limit counts rows. It
// is safe to call concurrently with writes; entries still queued are not
// seen (see Flush).
func (l *Log) Query(ctx context.Context, f Filter) ([]Entry, error) {
	q, args := querySQL(f)
	rows, err := l.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("blocklog: querying entries: %w", err)
	}
	defer rows.Close()
	var entries []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("blocklog: reading entries: %w", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("blocklog: reading entries: %w", err)
	}
	return entries, nil
}

// LastID is the greatest ID an entry of the log has had (0 when it never
// held one); IDs are never reused, so a Filter with Follow and this
// AfterID selects only entries stored later.
func (l *Log) LastID(ctx context.Context) (int64, error) {
	var id int64
	err := l.r.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'entries'").Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("blocklog: last id: %w", err)
	}
	return id, nil
}

// Count is one row of Top: a key and how many decisions have it (the sum
// of the Counts of the entries that have it).
type Count struct {
	Key string
	N   int64
}

// topColumn is the column Top groups by for by.
func topColumn(by string) (string, bool) {
	switch by {
	case "hosts":
		return "rhost", true
	case "rules":
		return "rule", true
	case "lists":
		return "list", true
	case "clients":
		return "client", true
	case "kinds":
		return "kind", true
	}
	return "", false
}

// topSQL is Top's statement.
func topSQL(col string, f Filter, n int) (string, []any) {
	where, args := f.where()
	q := "SELECT " + col + ", SUM(n) FROM entries WHERE " + where + " AND " + col + " <> ''" +
		" GROUP BY " + col + " ORDER BY 2 DESC, 1 LIMIT ?"
	return q, append(args, n)
}

// Top returns the n (default 10) most frequent values among the decisions
// f selects, most frequent first (ties by key), by "hosts", "rules",
// "lists", "clients" or "kinds". Empty values are not counted; f.Limit is
// ignored. It is safe to call concurrently with writes.
func (l *Log) Top(ctx context.Context, by string, f Filter, n int) ([]Count, error) {
	col, ok := topColumn(by)
	if !ok {
		return nil, fmt.Errorf("blocklog: top by %q: want hosts, rules, lists, clients or kinds", by)
	}
	if n <= 0 {
		n = 10
	}
	q, args := topSQL(col, f, n)
	rows, err := l.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("blocklog: top %s: %w", by, err)
	}
	defer rows.Close()
	var top []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Key, &c.N); err != nil {
			return nil, fmt.Errorf("blocklog: top %s: reading: %w", by, err)
		}
		if col == "rhost" {
			c.Key = reverseHost(c.Key)
		}
		top = append(top, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("blocklog: top %s: reading: %w", by, err)
	}
	return top, nil
}

// Point is one bucket of Series, a plain value.
type Point struct {
	Time    time.Time // the bucket's start
	Total   int64     // decisions: entries and counted decisions
	Blocked int64
}

// maxPoints bounds the length of a Series.
const maxPoints = 100_000

// Series returns the decisions per bucket from since (rounded down to the
// minute; zero means from the oldest count) to now, for one layer or all
// ("") of them, with a Point for every bucket, empty or not. Buckets are
// whole minutes (at least one). Totals count the decisions of stored
// entries (each in the minute of its own time, though folded into a row
// of an earlier minute) and decisions passed to Count; Blocked counts
// decisions of kind blocked, heuristic, connect-refused and unwrapped,
// and decisions counted as blocked. What is not yet flushed is not seen.
// It is safe to call concurrently with writes.
func (l *Log) Series(ctx context.Context, since time.Time, bucket time.Duration, layer string) ([]Point, error) {
	width := int64(bucket / time.Minute)
	if width < 1 {
		width = 1
	}
	start := minuteOf(since)
	if since.IsZero() {
		var first *int64
		if err := l.r.QueryRowContext(ctx, "SELECT MIN(minute) FROM counts").Scan(&first); err != nil {
			return nil, fmt.Errorf("blocklog: series: finding the first count: %w", err)
		}
		if first == nil {
			return nil, nil
		}
		start = *first
	}
	end := minuteOf(l.now())
	if end < start {
		return nil, nil
	}
	n := (end-start)/width + 1
	if n > maxPoints {
		return nil, fmt.Errorf("blocklog: series: %d buckets of %v, more than %d", n, bucket, maxPoints)
	}
	points := make([]Point, n)
	for i := range points {
		points[i].Time = time.Unix((start+int64(i)*width)*60, 0)
	}

	q := "SELECT (minute - ?) / ?, SUM(total), SUM(blocked) FROM counts WHERE minute >= ? AND minute <= ?"
	args := []any{start, width, start, end}
	if layer != "" {
		q += " AND layer = ?"
		args = append(args, layer)
	}
	q += " GROUP BY 1"
	rows, err := l.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("blocklog: series: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i, total, blocked int64
		if err := rows.Scan(&i, &total, &blocked); err != nil {
			return nil, fmt.Errorf("blocklog: series: reading: %w", err)
		}
		if i >= 0 && i < n {
			points[i].Total += total
			points[i].Blocked += blocked
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("blocklog: series: reading: %w", err)
	}
	return points, nil
}

// Purge deletes the entries, and the counts, older than before, and
// reports how many decisions the deleted entries stood for (the sum of
// their Counts, which is more than the rows deleted when some were
// folded). A zero before deletes everything and then compacts the file
// (VACUUM). What was Added before the call is stored first, so it is
// purged too. It fails on a read-only Log.
func (l *Log) Purge(ctx context.Context, before time.Time) (int64, error) {
	if l.readOnly {
		return 0, errors.New("blocklog: purge: the log is read-only")
	}
	if err := l.Flush(); err != nil {
		if errors.Is(err, ErrClosed) {
			return 0, err
		}
		return 0, fmt.Errorf("blocklog: purge: storing what was queued: %w", err)
	}
	if !before.IsZero() {
		n, err := l.deleteBefore(ctx, before)
		if err != nil {
			return n, fmt.Errorf("blocklog: purge: %w", err)
		}
		if err := l.vacuumFree(ctx, 0); err != nil {
			return n, fmt.Errorf("blocklog: purge: %w", err)
		}
		return n, nil
	}
	n, err := l.deleteAll(ctx)
	if err != nil {
		return 0, fmt.Errorf("blocklog: purge: %w", err)
	}
	if _, err := l.w.ExecContext(ctx, "VACUUM"); err != nil {
		return n, fmt.Errorf("blocklog: purge: vacuum: %w", err)
	}
	return n, nil
}

// deleteAll deletes every entry and count and reports how many decisions
// the entries stood for. It sums and deletes in one transaction, so that
// another process writing the log (`pixelwall run` while `pixelwall logs
// purge` runs) cannot add rows in between. Deleting the counts first takes
// the write lock before the sum is read: a transaction that read first
// could fail to upgrade its snapshot to a write after another process
// committed.
func (l *Log) deleteAll(ctx context.Context) (int64, error) {
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("deleting everything: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, "DELETE FROM counts"); err != nil {
		return 0, fmt.Errorf("deleting counts: %w", err)
	}
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(SUM(n), 0) FROM entries").Scan(&n); err != nil {
		return 0, fmt.Errorf("counting decisions: %w", err)
	}
	// Not DELETE … RETURNING n as in deleteChunk: with neither RETURNING
	// nor WHERE, SQLite drops the table's pages wholesale instead of
	// deleting row by row.
	if _, err := tx.ExecContext(ctx, "DELETE FROM entries"); err != nil {
		return 0, fmt.Errorf("deleting entries: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("deleting everything: committing: %w", err)
	}
	return n, nil
}

// fromNanos is the time of Unix nanoseconds n.
func fromNanos(n int64) time.Time { return time.Unix(0, n) }
