package proxy

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestRefusalLimiterPerSource(t *testing.T) {
	l := newRefusalLimiter()
	now := time.Unix(1_700_000_000, 0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	allowed := 0
	for range refusalBurst * 3 {
		if l.allow(a, now) {
			allowed++
		}
	}
	if allowed != refusalBurst {
		t.Errorf("a burst from one source: %d logged, want %d", allowed, refusalBurst)
	}
	if !l.allow(b, now) {
		t.Error("another source was held back by the first one's flood")
	}
	if !l.allow(a, now.Add(time.Second)) {
		t.Error("a source over budget got no token back after a second")
	}
	if got, want := l.dropped.Load(), uint64(refusalBurst*2); got != want {
		t.Errorf("dropped = %d, want %d", got, want)
	}
	// One IPv6 /64 is one source.
	six := 0
	for i := range refusalBurst * 2 {
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
		if l.allow(ip, now) {
			six++
		}
	}
	if six != refusalBurst {
		t.Errorf("addresses of one /64: %d logged, want %d", six, refusalBurst)
	}
}

// TestRefusalsCannotFloodTheLog: a client outside allow_clients asking
// again and again is answered 403 every time, but logged only within its
// budget; the rest is counted and reported as rate-limited.
func TestRefusalsCannotFloodTheLog(t *testing.T) {
	frozen := time.Unix(1_700_000_000, 0)
	w := newWorld(t, worldOptions{tweak: func(o *Options) {
		o.AllowClients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		o.Now = func() time.Time { return frozen } // no tokens come back during the test
	}})
	c := w.client(nil)
	const n = 3 * refusalBurst
	for range n {
		if resp, _ := w.get(c, w.httpURL("site.test", "/")); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	}
	if got := len(w.eventsOf(KindAccessRefused)); got != refusalBurst {
		t.Errorf("access-refused events = %d, want %d", got, refusalBurst)
	}
	limited := w.eventsOf(KindRateLimited)
	if len(limited) != n-refusalBurst {
		t.Errorf("rate-limited events = %d, want %d", len(limited), n-refusalBurst)
	} else if limited[0].Detail != string(KindAccessRefused) || limited[0].Client != "127.0.0.1" {
		t.Errorf("rate-limited event %+v: want the refusal's kind and client", limited[0])
	}
	if got := w.proxy.Stats().RefusalsNotLogged; got != n-refusalBurst {
		t.Errorf("Stats().RefusalsNotLogged = %d, want %d", got, n-refusalBurst)
	}
}
