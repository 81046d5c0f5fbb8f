package resolver

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per client address. Safe for concurrent use.
type limiter struct {
	rate    rate.Limit
	burst   int
	mu      sync.Mutex
	buckets map[netip.Addr]*rate.Limiter
}

// maxBuckets bounds memory against spoofed source addresses: past it the
// table starts over, which forgives everyone at once.
const maxBuckets = 1 << 16

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, buckets: make(map[netip.Addr]*rate.Limiter)}
}

func (l *limiter) allow(client netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			clear(l.buckets)
		}
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[client] = b
	}
	return b.AllowN(now, 1)
}
