package proxy

import (
	"net/netip"
	"sync"
	"time"
)

// pinTracker decides when a host's certificate rejections mean pinning
// rather than a client that has not installed our CA yet: only rejections
// from clients that accepted our certificate for some other host recently
// count, and it takes two.
type pinTracker struct {
	mu      sync.Mutex
	trusted map[netip.Addr]time.Time // clients that completed an intercepted handshake
	strikes map[string]int
	pins    map[string]time.Time
}

const (
	pinStrikes   = 2
	pinFor       = 7 * 24 * time.Hour
	trustedFor   = time.Hour
	maxPinMemory = 4096
)

func (p *pinTracker) init() {
	p.trusted = make(map[netip.Addr]time.Time)
	p.strikes = make(map[string]int)
	p.pins = make(map[string]time.Time)
}

func (p *pinTracker) accepted(client netip.Addr, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.trusted) >= maxPinMemory {
		clear(p.trusted)
	}
	p.trusted[client] = now
}

// rejected records a rejection and reports whether the host is now pinned.
func (p *pinTracker) rejected(host string, client netip.Addr, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.trusted[client]; !ok || now.Sub(t) > trustedFor {
		return false
	}
	if len(p.strikes) >= maxPinMemory {
		clear(p.strikes)
	}
	p.strikes[host]++
	if p.strikes[host] < pinStrikes {
		return false
	}
	delete(p.strikes, host)
	if len(p.pins) >= maxPinMemory {
		clear(p.pins)
	}
	p.pins[host] = now.Add(pinFor)
	return true
}

func (p *pinTracker) pinned(host string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.pins[host]
	if ok && now.After(until) {
		delete(p.pins, host)
		return false
	}
	return ok
}
