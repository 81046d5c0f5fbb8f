package blocklog

import (
	"context"
	"fmt"
	"time"
)

// deleteChunk is how many entries one DELETE removes at most, so that a
// large cleanup does not hold SQLite's write lock for long.
const deleteChunk = 20_000

// cleanup enforces the retention and the size cap. The writer runs it at
// open and hourly; it may also be called from any goroutine (it takes the
// one writing connection in turn with the writer).
func (l *Log) cleanup(ctx context.Context) error {
	if _, err := l.deleteBefore(ctx, l.now().Add(-l.opts.Retention)); err != nil {
		return fmt.Errorf("blocklog: retention: %w", err)
	}
	if err := l.enforceCap(ctx); err != nil {
		return err
	}
	// Give space back once a quarter of the file is free (say, after
	// Retention was shortened); otherwise new entries reuse it.
	if err := l.vacuumFree(ctx, 0.25); err != nil {
		return fmt.Errorf("blocklog: retention: %w", err)
	}
	// Keep the planner's statistics fresh for a log that runs for weeks
	// (cheap: SQLite samples a bounded number of rows).
	return l.optimize(ctx)
}

// deleteBefore deletes the entries older than before, in chunks, and the
// counts of the minutes that ended before it. It reports how many
// decisions the deleted entries stood for.
func (l *Log) deleteBefore(ctx context.Context, before time.Time) (int64, error) {
	var decisions int64
	for {
		rows, n, err := l.deleteChunk(ctx, before)
		decisions += n
		if err != nil {
			return decisions, fmt.Errorf("deleting entries before %v: %w", before, err)
		}
		if rows < deleteChunk {
			break
		}
	}
	if _, err := l.w.ExecContext(ctx, "DELETE FROM counts WHERE minute < ?", minuteOf(before)); err != nil {
		return decisions, fmt.Errorf("deleting counts before %v: %w", before, err)
	}
	return decisions, nil
}

// deleteChunk deletes up to deleteChunk entries older than before and
// reports how many rows it deleted and how many decisions they stood for.
// RETURNING gives the counts of exactly the rows deleted, in the same
// statement; SQLite deletes them all at the first step.
func (l *Log) deleteChunk(ctx context.Context, before time.Time) (rows, decisions int64, err error) {
	res, err := l.w.QueryContext(ctx,
		"DELETE FROM entries WHERE id IN (SELECT id FROM entries WHERE time < ? LIMIT ?) RETURNING n",
		before.UnixNano(), deleteChunk)
	if err != nil {
		return 0, 0, err
	}
	defer res.Close()
	for res.Next() {
		var n int64
		if err := res.Scan(&n); err != nil {
			return rows, decisions, err
		}
		rows++
		decisions += n
	}
	return rows, decisions, res.Err()
}

// pages reports the database's size and free list, in pages.
func (l *Log) pages(ctx context.Context) (count, free int64, err error) {
	if err := l.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&count); err != nil {
		return 0, 0, fmt.Errorf("reading page count: %w", err)
	}
	if err := l.w.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return 0, 0, fmt.Errorf("reading free page count: %w", err)
	}
	return count, free, nil
}

// enforceCap deletes the oldest entries while the pages in use exceed
// Options.MaxBytes, aiming at 90% of it, then gives the free pages back to
// the file system.
func (l *Log) enforceCap(ctx context.Context) error {
	count, free, err := l.pages(ctx)
	if err != nil {
		return fmt.Errorf("blocklog: size cap: %w", err)
	}
	used := (count - free) * l.pageSize
	if used <= l.opts.MaxBytes {
		return nil
	}
	target := l.opts.MaxBytes / 10 * 9
	// Deleted rows free their pages unevenly (index pages of other
	// columns are left half empty), so measure again after each round.
	for range 50 {
		var rows int64
		if err := l.w.QueryRowContext(ctx, "SELECT COUNT(*) FROM entries").Scan(&rows); err != nil {
			return fmt.Errorf("blocklog: size cap: counting entries: %w", err)
		}
		if rows == 0 {
			break
		}
		n := rows*(used-target)/used + 1
		if _, err := l.w.ExecContext(ctx,
			"DELETE FROM entries WHERE id IN (SELECT id FROM entries ORDER BY time, id LIMIT ?)", n); err != nil {
			return fmt.Errorf("blocklog: size cap: deleting %d oldest entries: %w", n, err)
		}
		if count, free, err = l.pages(ctx); err != nil {
			return fmt.Errorf("blocklog: size cap: %w", err)
		}
		if used = (count - free) * l.pageSize; used <= target {
			break
		}
	}
	if err := l.vacuumFree(ctx, 0); err != nil {
		return fmt.Errorf("blocklog: size cap: %w", err)
	}
	return nil
}

// vacuumFree gives the free pages back to the file system when they are
// more than fraction of the file.
func (l *Log) vacuumFree(ctx context.Context, fraction float64) error {
	count, free, err := l.pages(ctx)
	if err != nil {
		return err
	}
	if free == 0 || float64(free) < fraction*float64(count) {
		return nil
	}
	if _, err := l.w.ExecContext(ctx, "PRAGMA incremental_vacuum"); err != nil {
		return fmt.Errorf("incremental vacuum: %w", err)
	}
	return nil
}

// optimize lets SQLite refresh its planner statistics where they are
// missing or stale.
func (l *Log) optimize(ctx context.Context) error {
	if _, err := l.w.ExecContext(ctx, "PRAGMA optimize"); err != nil {
		return fmt.Errorf("blocklog: optimize: %w", err)
	}
	return nil
}
