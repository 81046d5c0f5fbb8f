package blocklog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// run is the writer goroutine. It collects (and folds) what Add queues
// into batches, and hands each batch to the storer goroutine, which writes
// it to SQLite while the next one is collected: a batch of thousands of
// rows takes long enough to store that a single goroutine would leave the
// queue unread meanwhile, and it would overflow under load.
func (l *Log) run() {
	defer close(l.stopped)
	c := &collector{
		l:      l,
		jobs:   make(chan job),       // unbuffered: a send succeeds when the storer is free
		free:   make(chan *batch, 1), // a stored batch, for reuse
		due:    time.NewTimer(l.opts.FlushInterval),
		b:      new(batch),
		handed: time.Now(),
	}
	storing := make(chan struct{})
	go func() {
		defer close(storing)
		l.storeJobs(c.jobs, c.free)
	}()
	defer func() {
		close(c.jobs)
		<-storing
	}()
	defer c.due.Stop()
	clean := time.NewTicker(cleanupPeriod)
	defer clean.Stop()

	for {
		select {
		case <-l.wake:
			time.Sleep(gather)
			c.drain()
		case <-c.due.C:
			// A small batch (the flood is over) goes at once.
			if c.b.size() >= spacedRows {
				if wait := spacing(l.opts.FlushInterval, time.Duration(l.lastStore.Load())) - time.Since(c.handed); wait > 0 {
					c.due.Reset(wait)
					continue
				}
			}
			c.hand(job{}, false)
		case reply := <-l.flushReq:
			c.drain()
			c.hand(job{reply: reply}, true)
		case <-clean.C:
			c.hand(job{cleanup: true}, true)
		case <-l.done:
			c.drain()
			c.hand(job{}, true)
			return
		}
	}
}

// collector is the writer goroutine's state: the batch being collected
// and the way to the storer. Only run uses it.
type collector struct {
	l    *Log
	jobs chan job    // to the storer
	free chan *batch // stored batches, back from the storer
	// due fires when the batch should go to the storer: a flush interval
	// after the last time it went, or later while storing is slow (see
	// spacing).
	due    *time.Timer
	b      *batch
	handed time.Time // when the last batch went to the storer
	spare  []Entry   // the queue's last backing array, for reuse
}

// hand gives the batch (with j's other work) to the storer, waiting for it
// to be free if wait, else only if it is free now; the next is due a flush
// interval later.
func (c *collector) hand(j job, wait bool) {
	j.batch = c.b
	if wait {
		c.jobs <- j
	} else {
		select {
		case c.jobs <- j:
		default:
			c.due.Reset(c.l.opts.FlushInterval)
			return // still storing the last one: keep collecting
		}
	}
	c.handed = time.Now()
	c.due.Reset(c.l.opts.FlushInterval)
	select {
	case c.b = <-c.free:
	default:
		c.b = new(batch)
	}
}

// add adds e to the batch, handing the batch over when it is full.
func (c *collector) add(e Entry) {
	if c.b.add(e, c.l.opts.JSON != nil); c.b.size() >= maxBatch {
		c.hand(job{}, true)
	}
}

// drain takes what is queued now, and no more, so that Adds outpacing the
// writer cannot keep a Flush waiting forever.
func (c *collector) drain() {
	got := c.l.takePending(c.spare)
	for i := range got {
		c.add(got[i])
	}
	clear(got) // let go of the entries' strings
	c.spare = got
}

// spacing is how long the writer waits between two stores on its own
// (Flush, Close and a full batch do not wait): the flush interval, or
// storeShare times as long as the last store took (lastStore, 0 when it
// did not fold) when that is longer, up to MaxStoreSpacing. Under a flood
// of a few thousand names a store of one row per name takes a tenth of a
// second or more; waiting ten times that folds ten times as many
// decisions into each row and keeps storing to about a tenth of a core.
func spacing(interval, lastStore time.Duration) time.Duration {
	return max(interval, min(storeShare*lastStore, MaxStoreSpacing))
}

// job is work for the storer: a batch to store (maybe empty: the counts
// are stored too), then maybe a cleanup, then maybe a Flush to answer.
type job struct {
	batch   *batch
	cleanup bool
	reply   chan error
}

// storeJobs is the storer goroutine: the only one to use the writing
// connection. It gives batches back through free once stored, for reuse.
func (l *Log) storeJobs(jobs <-chan job, free chan<- *batch) {
	ctx := context.Background()
	l.note(l.cleanup(ctx))
	for j := range jobs {
		start := time.Now()
		l.note(l.flush(ctx, j.batch))
		if b := j.batch; !b.empty() {
			took := time.Since(start)
			if b.decisions < foldGain*uint64(len(b.rows)) {
				took = 0 // waiting longer would not fold more
			}
			l.lastStore.Store(int64(took))
		}
		if j.cleanup {
			l.note(l.cleanup(ctx))
		}
		if j.reply != nil {
			j.reply <- l.err
			l.err = nil
		}
		j.batch.reset()
		select {
		case free <- j.batch:
		default:
		}
	}
	l.note(l.optimize(ctx))
	l.closeStmts()
}

// note keeps the first background error for Flush or Close to report.
func (l *Log) note(err error) {
	if err != nil && l.err == nil {
		l.err = err
	}
}

// flush stores b and the pending counts, writes the JSON lines and
// enforces the size cap.
func (l *Log) flush(ctx context.Context, b *batch) error {
	var counts map[countKey]counter // decisions passed to Count
	l.countMu.Lock()
	if len(l.counts) > 0 {
		counts = l.counts
		l.counts = make(map[countKey]counter)
	}
	l.countMu.Unlock()
	if b.empty() && len(counts) == 0 {
		return nil
	}
	if counts == nil {
		counts = make(map[countKey]counter, len(b.counts))
	}
	for k, c := range b.counts {
		sum := counts[k]
		sum.total += c.total
		sum.blocked += c.blocked
		counts[k] = sum
	}
	err := l.store(ctx, b.rows, counts)
	if err != nil {
		l.dropped.Add(b.decisions)
	} else {
		l.stored.Add(b.decisions)
	}
	if l.opts.JSON != nil {
		for i := range b.raw {
			b.raw[i].ID = b.rows[b.rawRow[i]].ID
		}
		err = errors.Join(err, l.writeJSON(b.raw))
	}
	if !b.empty() {
		err = errors.Join(err, l.enforceCap(ctx))
	}
	return err
}

// store inserts rows and adds counts to the counts table, in one
// transaction. Once it has committed, it sets the rows' IDs.
func (l *Log) store(ctx context.Context, rows []Entry, counts map[countKey]counter) error {
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("blocklog: storing %d rows: beginning transaction: %w", len(rows), err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	ids := make([]int64, len(rows))
	insert, bump := tx.StmtContext(ctx, l.insert), tx.StmtContext(ctx, l.bump)
	var newRefusals []int // rows that start a refusal row of their minute
	for i := range rows {
		if Refusal(rows[i].Kind) {
			if id, ok := l.refusalRows[keyOf(&rows[i])]; ok {
				res, err := bump.ExecContext(ctx, rows[i].Count, id)
				if err != nil {
					return fmt.Errorf("blocklog: storing %d rows: adding to a refusal row: %w", len(rows), err)
				}
				if n, err := res.RowsAffected(); err == nil && n == 1 {
					ids[i] = id
					continue
				}
				// Deleted meanwhile (size cap, retention, Purge): start anew.
			}
			newRefusals = append(newRefusals, i)
		}
		res, err := insert.ExecContext(ctx, entryArgs(&rows[i])...)
		if err != nil {
			return fmt.Errorf("blocklog: storing %d rows: inserting: %w", len(rows), err)
		}
		if ids[i], err = res.LastInsertId(); err != nil {
			return fmt.Errorf("blocklog: storing %d rows: reading id: %w", len(rows), err)
		}
	}
	upsert := tx.StmtContext(ctx, l.upsert)
	for k, c := range counts {
		if _, err := upsert.ExecContext(ctx, k.minute, k.layer, c.total, c.blocked); err != nil {
			return fmt.Errorf("blocklog: storing %d rows: counting: %w", len(rows), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("blocklog: storing %d rows: committing: %w", len(rows), err)
	}
	for i := range rows {
		rows[i].ID = ids[i]
	}
	l.noteRefusalRows(rows, newRefusals)
	return nil
}

// noteRefusalRows remembers the refusal rows just inserted (rows[i] for i
// in added) and forgets those of minutes before the last.
func (l *Log) noteRefusalRows(rows []Entry, added []int) {
	if l.refusalRows == nil {
		if len(added) == 0 {
			return
		}
		l.refusalRows = make(map[foldKey]int64)
	}
	for _, i := range added {
		l.refusalRows[keyOf(&rows[i])] = rows[i].ID
	}
	last := minuteOf(l.now()) - 1
	for k := range l.refusalRows {
		if k.minute < last {
			delete(l.refusalRows, k)
		}
	}
}

// writeJSON writes batch to Options.JSON, one object per line.
func (l *Log) writeJSON(batch []Entry) error {
	if l.enc == nil {
		l.enc = json.NewEncoder(l.opts.JSON)
		l.enc.SetEscapeHTML(false)
	}
	for i := range batch {
		if err := l.enc.Encode(&batch[i]); err != nil {
			return fmt.Errorf("blocklog: writing JSON line: %w", err)
		}
	}
	return nil
}
