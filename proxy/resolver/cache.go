package resolver

import (
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist/lru"
)

// Cache limits, RFC 2308 negative caching included.
const (
	maxTTL         = 24 * time.Hour
	maxNegativeTTL = time.Hour
	cacheShards    = 16
	// prefetchHits is how often an entry must have been used to be
	// refreshed before it expires; prefetchLeft is how much of its TTL may
	// remain when that happens.
	prefetchHits = 3
	prefetchLeft = 0.1
	// maxStale is how long after it expired an answer may still be served
	// when no upstream answers (RFC 8767 suggests one to three days), and
	// staleTTL the TTL it is served with, for which it is then kept
	// without asking the upstreams again (RFC 8767 section 4: 30 s).
	maxStale = 24 * time.Hour
	staleTTL = 30 * time.Second
)

type cacheKey struct {
	name  string // lower case, with the trailing dot
	qtype uint16
	do    bool // the DNSSEC OK bit changes the answer
	cd    bool
}

// flightKey is the key as a string, for singleflight.
func (k cacheKey) flightKey() string {
	b := []byte(k.name)
	b = append(b, 0, byte(k.qtype>>8), byte(k.qtype))
	if k.do {
		b = append(b, 'D')
	}
	if k.cd {
		b = append(b, 'C')
	}
	return string(b)
}

type cacheEntry struct {
	key    cacheKey
	msg    *dns.Msg // never modified once stored
	stored time.Time
	ttl    time.Duration
	hits   int
	// packed are msg as the UDP fast path answers it, to clients without
	// and with EDNS0; nil until a query has been answered the slow way.
	packed [2]*packedReply
	// expired is when the upstream's answer expired, for an entry that
	// now holds it served stale (see stale); zero otherwise.
	expired time.Time
}

// expiry is when e's upstream answer expired, or expires.
func (e *cacheEntry) expiry() time.Time {
	if !e.expired.IsZero() {
		return e.expired
	}
	return e.stored.Add(e.ttl)
}

// cache is a bounded LRU of upstream answers, sharded to spread lock
// contention. Safe for concurrent use.
type cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu      sync.Mutex
	entries *lru.Cache[cacheKey, *cacheEntry]
}

func newCache(size int) *cache {
	c := &cache{seed: maphash.MakeSeed()}
	per := max(size/cacheShards, 1)
	for i := range c.shards {
		c.shards[i] = cacheShard{entries: lru.New[cacheKey, *cacheEntry](per)}
	}
	return c
}

func (c *cache) shard(k cacheKey) *cacheShard {
	return &c.shards[maphash.String(c.seed, k.name)%cacheShards]
}

// get returns a fresh entry's message with TTLs decayed by its age, the
// message as stored, and whether it is due for a prefetch.
func (c *cache) get(k cacheKey, now time.Time) (msg, stored *dns.Msg, prefetch, ok bool) {
	sh := c.shard(k)
	sh.mu.Lock()
	e, found := sh.entries.Get(k)
	if !found {
		sh.mu.Unlock()
		return nil, nil, false, false
	}
	age := now.Sub(e.stored)
	if age >= e.ttl {
		// Kept for stale while it may be served so.
		if now.Sub(e.expiry()) >= maxStale {
			sh.entries.Remove(k)
		}
		sh.mu.Unlock()
		return nil, nil, false, false
	}
	e.hits++
	prefetch = e.hits >= prefetchHits && float64(e.ttl-age) < prefetchLeft*float64(e.ttl)
	if prefetch {
		e.hits = 0 // one prefetch per round
	}
	src := e.msg
	sh.mu.Unlock()
	return decayed(src, age), src, prefetch, true
}

// stale is the cache's answer for k when no upstream answered: k's
// expired answer, if it expired less than maxStale ago, kept from now on
// for staleTTL as an answer of its own, with TTLs of staleTTL and an
// Extended DNS Error "Stale Answer" (RFC 8914), which answers made from it
// pass on. An entry that is fresh meanwhile (another query has just made
// it stale, or another exchange has just stored an upstream's answer) is
// returned as it is, isStale telling which. msg is the caller's, TTLs
// decayed.
func (c *cache) stale(k cacheKey, now time.Time) (msg *dns.Msg, isStale, ok bool) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.entries.Get(k)
	if !ok {
		return nil, false, false
	}
	if age := now.Sub(e.stored); age < e.ttl {
		return decayed(e.msg, age), !e.expired.IsZero(), true
	}
	expired := e.expiry()
	if now.Sub(expired) >= maxStale {
		return nil, false, false
	}
	m := e.msg.Copy()
	sec := uint32(staleTTL / time.Second)
	eachTTL(m, func(ttl *uint32) { *ttl = sec })
	o := m.IsEdns0()
	if o == nil {
		m.SetEdns0(ednsSize, false)
		o = m.IsEdns0()
	}
	// One "Stale Answer", however many times the answer has been served
	// stale in a row.
	o.Option = slices.DeleteFunc(o.Option, func(opt dns.EDNS0) bool {
		ede, ok := opt.(*dns.EDNS0_EDE)
		return ok && ede.InfoCode == dns.ExtendedErrorCodeStaleAnswer
	})
	o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeStaleAnswer, ExtraText: "no upstream answered"})
	e.msg, e.stored, e.ttl, e.expired, e.packed = m, now, staleTTL, expired, [2]*packedReply{}
	return decayed(m, 0), true, true
}

// appendPacked appends to dst the packed answer to a query for k from a
// client with (edns) or without EDNS0, TTLs decayed, when the entry is
// fresh, has one made under matcher generation gen, and is not in its
// prefetch window (prefetch says whether there is one): the slow path
// answers those, and prefetches. The caller patches ID, flags and
// question. name in k may alias a buffer: it is not kept.
func (c *cache) appendPacked(dst []byte, k cacheKey, edns bool, gen uint64, prefetch bool, now time.Time) ([]byte, bool) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, found := sh.entries.Get(k)
	if !found {
		return dst, false
	}
	p := e.packed[b2i(edns)]
	age := now.Sub(e.stored)
	if p == nil || p.gen != gen || age >= e.ttl || prefetch && float64(e.ttl-age) < prefetchLeft*float64(e.ttl) {
		return dst, false
	}
	e.hits++
	start := len(dst)
	dst = append(dst, p.buf...)
	p.decay(dst[start:], uint32(age/time.Second))
	return dst, true
}

// lacksPacked says whether k's entry still holds msg and has no packed
// form made under matcher generation gen for clients with or without
// EDNS0: whether packing one is worth it.
func (c *cache) lacksPacked(k cacheKey, msg *dns.Msg, edns bool, gen uint64) bool {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.entries.Peek(k)
	if !ok || e.msg != msg {
		return false
	}
	p := e.packed[b2i(edns)]
	return p == nil || p.gen != gen
}

// setPacked keeps p as the packed form of k's entry for clients with or
// without EDNS0, if the entry still holds msg.
func (c *cache) setPacked(k cacheKey, msg *dns.Msg, edns bool, p *packedReply) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.entries.Peek(k); ok && e.msg == msg {
		e.packed[b2i(edns)] = p
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// put stores an upstream answer for as long as its TTL allows.
func (c *cache) put(k cacheKey, m *dns.Msg, now time.Time) {
	ttl := cacheTTL(m)
	if ttl <= 0 {
		return
	}
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.entries.Get(k); ok {
		e.msg, e.stored, e.ttl, e.packed, e.expired = m, now, ttl, [2]*packedReply{}, time.Time{}
		return
	}
	sh.entries.Add(k, &cacheEntry{key: k, msg: m, stored: now, ttl: ttl})
}

// cacheTTL is how long an answer may be kept: the smallest TTL of its
// records for a positive answer; for NXDOMAIN and NODATA, the SOA's TTL
// capped by its MINIMUM field (RFC 2308 section 5). Failures are not kept.
func cacheTTL(m *dns.Msg) time.Duration {
	switch {
	case m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0:
		ttl := uint32(1<<32 - 1)
		for _, rr := range m.Answer {
			ttl = min(ttl, rr.Header().Ttl)
		}
		return min(time.Duration(ttl)*time.Second, maxTTL)
	case m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError:
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				return min(time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second, maxNegativeTTL)
			}
		}
	}
	return 0
}

// decayed copies m with every TTL lowered by age.
func decayed(m *dns.Msg, age time.Duration) *dns.Msg {
	out := m.Copy()
	sec := uint32(age / time.Second)
	eachTTL(out, func(ttl *uint32) { *ttl -= min(*ttl, sec) })
	return out
}

// eachTTL calls f with the TTL of every record of m but the OPT.
func eachTTL(m *dns.Msg, f func(ttl *uint32)) {
	for _, rrs := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range rrs {
			if h := rr.Header(); h.Rrtype != dns.TypeOPT {
				f(&h.Ttl)
			}
		}
	}
}
