package resolver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// lookup answers from the cache or set, the upstreams for the name;
// concurrent identical queries share one upstream exchange. It also returns
// the answer as cached, TTLs not decayed.
func (s *Server) lookup(ctx context.Context, req *dns.Msg, name string, q dns.Question, set *upstreamSet) (*dns.Msg, source, error) {
	k := cacheKey{name: name, qtype: q.Qtype, cd: req.CheckingDisabled}
	if o := req.IsEdns0(); o != nil {
		k.do = o.Do()
	}
	if s.cache != nil {
		if m, src, prefetch, ok := s.cache.get(k, s.now()); ok {
			s.cacheHits.Add(1)
			if prefetch && !s.opts.NoPrefetch {
				go s.refresh(k, req, set)
			}
			return m, source{key: k, msg: src}, nil
		}
	}
	m, err := s.fetch(ctx, k, req, set)
	if err != nil && s.cache != nil && !s.opts.NoServeStale {
		// No upstream answered: an answer that expired lately beats
		// SERVFAIL (RFC 8767).
		if m, isStale, ok := s.cache.stale(k, s.now()); ok {
			if isStale {
				s.staleServed.Add(1)
				s.log.Debug("resolver: served stale", "name", name, "err", err)
			} else {
				s.cacheHits.Add(1)
			}
			return m, source{}, nil
		}
	}
	if err != nil || s.cache == nil {
		return m, source{}, err
	}
	return m, source{key: k, msg: m}, nil
}

// refresh re-fetches a popular entry before it expires.
func (s *Server) refresh(k cacheKey, req *dns.Msg, set *upstreamSet) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.opts.Timeout)
	defer cancel()
	_, _ = s.fetch(ctx, k, req, set)
}

// fetch asks set once per key at a time and caches the answer; callers
// that come meanwhile share it. The exchange runs on the first caller's
// goroutine (a hand-off to another would cost a wake-up on every miss) and
// is bounded by the strategy's own timeout.
func (s *Server) fetch(ctx context.Context, k cacheKey, req *dns.Msg, set *upstreamSet) (*dns.Msg, error) {
	v, err, _ := s.flights.Do(k.flightKey(), func() (any, error) {
		m, err := s.forward(ctx, upstreamQuery(req), set)
		if err == nil && s.cache != nil {
			s.cache.put(k, m, s.now())
		}
		return m, err
	})
	m, _ := v.(*dns.Msg)
	return m, err
}

// forward sends q to set per the strategy. An answer counts when it is
// NOERROR or NXDOMAIN; SERVFAIL and REFUSED from one upstream mean trying
// another.
func (s *Server) forward(ctx context.Context, q *dns.Msg, set *upstreamSet) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*s.opts.Timeout)
	defer cancel()
	ups := set.ups
	if s.opts.Strategy == StrategyFailover || len(ups) == 1 {
		// Upstreams resting after failures come last, in their order:
		// a dead first upstream then costs one timeout, not one a query.
		var errs []error
		now := s.now()
		resting := make([]bool, len(ups)) // as the query starts: each is asked once
		for i := range ups {
			resting[i] = set.health[i].resting(now)
		}
		for pass := range 2 {
			for i, u := range ups {
				if resting[i] != (pass == 1) {
					continue
				}
				m, err := s.exchange(ctx, u, q)
				set.health[i].note(s, u, err)
				if err == nil {
					return m, nil
				}
				errs = append(errs, err)
				if ctx.Err() != nil {
					return nil, errors.Join(errs...)
				}
			}
		}
		return nil, errors.Join(errs...)
	}
	type result struct {
		m   *dns.Msg
		err error
	}
	results := make(chan result, len(ups))
	for _, u := range ups {
		go func() {
			m, err := s.exchange(ctx, u, q)
			results <- result{m, err}
		}()
	}
	var errs []error
	for range ups {
		r := <-results
		if r.err == nil {
			return r.m, nil // the fastest good answer; cancel stops the rest
		}
		errs = append(errs, r.err)
	}
	return nil, errors.Join(errs...)
}

func (s *Server) exchange(ctx context.Context, u Upstream, q *dns.Msg) (*dns.Msg, error) {
	actx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	// Packing a message writes into its OPT record: upstreams asked in
	// parallel each get their own copy.
	start := time.Now()
	m, err := u.Exchange(actx, q.Copy())
	if obs := s.opts.ObserveUpstream; obs != nil {
		obs(u.String(), time.Since(start), err)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", u, err)
	case m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError:
		return nil, &rcodeError{upstream: u.String(), rcode: m.Rcode}
	case m.Id != q.Id:
		return nil, fmt.Errorf("%s: answer ID does not match", u)
	}
	return m, nil
}

// health is what failover remembers of one upstream: after an exchange it
// did not answer (a timeout, a refused connection, REFUSED) it rests, and
// queries try it only after the others, for restFor(failures): 5 s,
// doubling with each further failure, up to 2 minutes. A query that
// reaches it and gets an answer ends its rest. The parallel strategy asks
// every upstream anyway.
type health struct {
	mu       sync.Mutex
	failures int
	until    time.Time
}

const (
	minRest = 5 * time.Second
	maxRest = 2 * time.Minute
)

// restFor is how long an upstream rests after n failures in a row.
func restFor(n int) time.Duration {
	d := minRest
	for range n - 1 {
		if d *= 2; d >= maxRest {
			return maxRest
		}
	}
	return d
}

func (h *health) resting(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return now.Before(h.until)
}

// rcodeError is an upstream's answer that does not count (SERVFAIL,
// REFUSED, …): the query moves on to the next upstream.
type rcodeError struct {
	upstream string
	rcode    int
}

func (e *rcodeError) Error() string { return e.upstream + ": " + dns.RcodeToString[e.rcode] }

// note records an exchange's outcome, and logs when u starts or stops
// resting. SERVFAIL does not count: an upstream that answers it for one
// name (a broken DNSSEC chain) is up. REFUSED and the like do: they come
// from an upstream that will not serve us. Failures while it rests (of
// queries that started before) count once.
func (h *health) note(s *Server, u Upstream, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rerr *rcodeError
	if errors.As(err, &rerr) && rerr.rcode == dns.RcodeServerFailure {
		err = nil
	}
	now := s.now()
	if err != nil && now.Before(h.until) {
		return
	}
	if err == nil {
		if h.failures > 0 {
			s.log.Info("resolver: upstream answers again", "upstream", u.String(), "after_failures", h.failures)
		}
		h.failures, h.until = 0, time.Time{}
		return
	}
	h.failures++
	rest := restFor(h.failures)
	h.until = now.Add(rest)
	if h.failures == 1 {
		s.log.Warn("resolver: upstream failed", "upstream", u.String(), "asked_last_for", rest, "err", err)
	}
}
