package blocklog

import (
	"encoding/json"
	"hash/maphash"
	"strings"
)

// batch is what the writer collects between two stores: the entries
// folded into rows as they arrive, and every decision counted in its own
// minute.
//
// Entries equal in every stored field but their time (see foldKey) are one
// row whose time is the earliest of theirs and whose Count is the sum of
// theirs. A batch is then bounded by distinct rows, not decisions: a flood
// of a few thousand names repeated for a whole flush interval (a resolver
// under load) costs one row per name. A row may stand for decisions on both
// sides of a minute's end; the counts keep each in its own minute.
type batch struct {
	rows      []Entry
	counts    map[countKey]counter
	decisions uint64
	// raw keeps each entry as added, with the index of its row, for the
	// JSON lines (one per entry); only when they are written.
	raw    []Entry
	rawRow []int32
	// index maps a foldKey's hash to the last row with it; same chains the
	// earlier rows with the same hash. A map keyed by the foldKey itself
	// would store each key (232 bytes, over Go's 128-byte limit) out of
	// line: one allocation per row.
	index map[uint64]int32
	same  []int32
}

// add folds e into the batch; keepRaw also keeps it as it is.
func (b *batch) add(e Entry, keepRaw bool) {
	if e.Count < 1 {
		e.Count = 1 // Add has done this already; benchmarks have not
	}
	if b.index == nil {
		b.index = make(map[uint64]int32)
		b.counts = make(map[countKey]counter)
	}
	ck := countKey{minute: minuteOf(e.Time), layer: e.Layer}
	c := b.counts[ck]
	c.total += e.Count
	if Blocked(e.Kind) {
		c.blocked += e.Count
	}
	b.counts[ck] = c
	b.decisions += uint64(e.Count)

	k := keyOf(&e)
	h := maphash.Comparable(foldSeed, k)
	first, ok := b.index[h]
	row := int32(-1)
	for i := first; ok && i >= 0; i = b.same[i] {
		if keyOf(&b.rows[i]) == k {
			row = i
			break
		}
	}
	if row >= 0 {
		r := &b.rows[row]
		r.Count += e.Count
		if e.Time.Before(r.Time) {
			r.Time = e.Time
		}
	} else {
		if !ok {
			first = -1
		}
		row = int32(len(b.rows))
		b.index[h] = row
		b.same = append(b.same, first)
		b.rows = append(b.rows, e)
	}
	if keepRaw {
		b.raw = append(b.raw, e)
		b.rawRow = append(b.rawRow, row)
	}
}

// size is what bounds the batch: its rows, or its raw entries.
func (b *batch) size() int { return max(len(b.rows), len(b.raw)) }

// empty says whether there is nothing to store.
func (b *batch) empty() bool { return len(b.rows) == 0 }

// reset empties the batch for reuse, letting go of the entries' strings.
func (b *batch) reset() {
	clear(b.rows)
	clear(b.raw)
	b.rows, b.raw, b.rawRow, b.same = b.rows[:0], b.raw[:0], b.rawRow[:0], b.same[:0]
	clear(b.index)
	clear(b.counts)
	b.decisions = 0
}

// foldKey is every stored field of an entry but its time (and its count):
// the entries of a batch with equal keys are stored as one row. A refusal
// (see Refusal) is keyed by its layer, kind, client and minute only.
type foldKey struct {
	layer, client, method, host, url, typ, source    string
	rule, list, response, removed, cloakedBy, detail string
	kind                                             Kind
	bytes, minute                                    int64
}

// foldSeed seeds the hashes of foldKeys.
var foldSeed = maphash.MakeSeed()

// keyOf is e's foldKey.
func keyOf(e *Entry) foldKey {
	if Refusal(e.Kind) {
		return foldKey{layer: e.Layer, kind: e.Kind, client: e.Client, minute: minuteOf(e.Time)}
	}
	return foldKey{
		layer: e.Layer, kind: e.Kind, client: e.Client, method: e.Method, host: e.Host, url: e.URL,
		typ: e.Type, source: e.Source, rule: e.Rule, list: e.List, response: e.Response,
		removed: removedKey(e.Removed), cloakedBy: e.CloakedBy, detail: e.Detail, bytes: e.Bytes,
	}
}

// removedKey encodes names for foldKey so that different lists have
// different keys (nil and empty are the same list: both are stored as
// ""). Names are joined after a NUL, which keeps [""] apart from nil; the
// rare list with a NUL in a name is encoded as JSON instead, which never
// holds a raw NUL and so cannot meet a joined key.
func removedKey(names []string) string {
	if len(names) == 0 {
		return ""
	}
	n := 0
	for _, name := range names {
		if strings.IndexByte(name, 0) >= 0 {
			b, _ := json.Marshal(names) // cannot fail for a []string
			return string(b)
		}
		n += 1 + len(name)
	}
	var b strings.Builder
	b.Grow(n)
	for _, name := range names {
		b.WriteByte(0)
		b.WriteString(name)
	}
	return b.String()
}
