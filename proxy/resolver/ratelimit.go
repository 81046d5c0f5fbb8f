package resolver

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per client address (x/time/rate), and
// optionally one more that all clients share. Safe for concurrent use.
type limiter struct {
	limit rate.Limit
	burst int
	// all, when set, bounds every client together: per-address buckets
	// alone do not bound what spoofed source addresses can do.
	all *rate.Limiter

	mu      sync.Mutex
	buckets map[netip.Addr]*rate.Limiter
}

// maxBuckets bounds memory against spoofed source addresses: past it the
// table starts over, which forgives everyone at once.
const maxBuckets = 1 << 16

// newLimiter lets each client perSecond events a second, in bursts of up
// to burst.
func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{limit: rate.Limit(perSecond), burst: burst, buckets: make(map[netip.Addr]*rate.Limiter)}
}

// withOverall adds a bucket all clients share, of perSecond and burst.
func (l *limiter) withOverall(perSecond float64, burst int) *limiter {
	l.all = rate.NewLimiter(rate.Limit(perSecond), burst)
	return l
}

// allow takes a token from client's bucket (and the shared one) at now,
// reporting whether there was one.
func (l *limiter) allow(client netip.Addr, now time.Time) bool {
	l.mu.Lock()
	b, ok := l.buckets[client]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			clear(l.buckets)
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[client] = b
	}
	l.mu.Unlock()
	if !b.AllowN(now, 1) {
		return false
	}
	return l.all == nil || l.all.AllowN(now, 1)
}
