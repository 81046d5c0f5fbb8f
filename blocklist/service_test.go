package blocklist

import (
	"log/slog"
	"net/netip"
	"testing"
)

// A host the user blocks is blocked at once for requests and names, with
// its subdomains, for everyone, and stays blocked after a restart; an
// allow still wins.
func TestServiceDenyPersists(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{NoDefaults: true, Sources: []Source{{Name: "t", Text: "||tracker.test^\n"}}}
	opts := ServiceOptions{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	s, err := NewService(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := NewRequest("https://cdn.shop.test/p.gif", "https://news.test/", TypeImage)
	if d := s.Policy().Decide(req, netip.Addr{}); d.Action != Pass {
		t.Fatalf("before Deny: %v", d)
	}
	gen := s.Policy().Generation()
	if err := s.Deny("Shop.Test."); err != nil {
		t.Fatal(err)
	}
	if s.Policy().Generation() == gen {
		t.Error("Deny published no new policy")
	}
	if d := s.Policy().Decide(req, netip.Addr{}); d.Action != Block || d.List != UserDenyListName || d.Response != ResponseGIF {
		t.Errorf("after Deny: %+v", d)
	}
	if d := s.Policy().DecideHost("shop.test", netip.Addr{}); d.Action != Block {
		t.Errorf("DecideHost after Deny: %+v", d)
	}
	if d := s.Policy().DecideHost("notshop.test", netip.Addr{}); d.Action != Pass {
		t.Errorf("DecideHost(notshop.test): %+v", d)
	}
	if err := s.Deny("not a host"); err == nil {
		t.Error("Deny accepted a bad host name")
	}

	again, err := NewService(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if d := again.Policy().DecideHost("www.shop.test", netip.Addr{}); d.Action != Block {
		t.Errorf("after a restart: %+v", d)
	}
	if err := again.Allow(Override{Host: "cdn.shop.test"}); err != nil {
		t.Fatal(err)
	}
	if d := again.Policy().Decide(req, netip.Addr{}); d.Action != Allow {
		t.Errorf("an allow under a user block: %+v", d)
	}
}
