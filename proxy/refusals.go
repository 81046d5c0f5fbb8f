package proxy

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Refusals (clients outside allow_clients, destinations refused) are
// logged within a budget per source, so one client, or a few, asking
// thousands of times a second cannot fill the log and push out real
// history. The client is answered 403 either way: answering costs less
// than the log entry, and tells a misconfigured device why.
const (
	refusalRate    = rate.Limit(1) // per second and source, after the burst
	refusalBurst   = 20
	refusalSources = 4096 // sources remembered; the table starts afresh when full
	// The budget of all sources together bounds what many sources can do.
	refusalRateAll  = rate.Limit(50)
	refusalBurstAll = 500
)

// refusalLimiter is a token bucket per source: an IPv4 address, or an
// IPv6 /64 (one host's share of a network).
type refusalLimiter struct {
	mu      sync.Mutex
	sources map[netip.Prefix]*rate.Limiter
	all     *rate.Limiter
	dropped atomic.Uint64
}

func newRefusalLimiter() *refusalLimiter {
	return &refusalLimiter{sources: make(map[netip.Prefix]*rate.Limiter), all: rate.NewLimiter(refusalRateAll, refusalBurstAll)}
}

// allow takes a token for client's source, and counts a refusal that
// found none.
func (l *refusalLimiter) allow(client netip.Addr, now time.Time) bool {
	bits := 32
	if client.Is6() {
		bits = 64
	}
	key, _ := client.Prefix(bits)
	l.mu.Lock()
	lim, ok := l.sources[key]
	if !ok {
		if len(l.sources) >= refusalSources {
			clear(l.sources)
		}
		lim = rate.NewLimiter(refusalRate, refusalBurst)
		l.sources[key] = lim
	}
	ok = lim.AllowN(now, 1) && l.all.AllowN(now, 1)
	l.mu.Unlock()
	if !ok {
		l.dropped.Add(1)
	}
	return ok
}

// emitRefusal logs a refusal within its source's budget; beyond it, the
// event becomes KindRateLimited, which loggers count and do not store.
func (s *Server) emitRefusal(client netip.Addr, e Event) {
	if !s.refusals.allow(client, s.now()) {
		e = Event{Kind: KindRateLimited, Client: e.Client, Method: e.Method, Host: e.Host, Detail: string(e.Kind)}
	}
	s.emit(e)
}

// Stats are the proxy's counters since it was made.
type Stats struct {
	// RefusalsNotLogged are refusals beyond their source's logging budget.
	RefusalsNotLogged uint64
}

// Stats returns the proxy's counters. Safe for concurrent use.
func (s *Server) Stats() Stats {
	return Stats{RefusalsNotLogged: s.refusals.dropped.Load()}
}
