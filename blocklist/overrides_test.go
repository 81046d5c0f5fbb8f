package blocklist

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

func TestOverrides(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	o := &Overrides{Now: func() time.Time { return now }}
	alice, bob := netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("192.168.1.11")
	o.Add(Override{Host: "Tracker.Test."})                          // everyone, always
	o.Add(Override{Host: "cdn.test", Client: alice})                // alice only
	o.Add(Override{Site: "shop.test", Until: now.Add(time.Hour)})   // pages of shop.test, an hour
	o.Add(Override{Host: "old.test", Until: now.Add(-time.Minute)}) // expired
	tests := []struct {
		client       netip.Addr
		host, source string
		want         bool
	}{
		{bob, "x.tracker.test", "", true},
		{alice, "cdn.test", "", true},
		{bob, "cdn.test", "", false},
		{bob, "ads.test", "www.shop.test", true},
		{bob, "ads.test", "news.test", false},
		{bob, "old.test", "", false},
		{bob, "nottracker.test", "", false},
	}
	for _, tc := range tests {
		if _, got := allowedBy(o, tc.client, tc.host, tc.source); got != tc.want {
			t.Errorf("Allowed(%v, %q, %q) = %v, want %v", tc.client, tc.host, tc.source, got, tc.want)
		}
	}
	now = now.Add(2 * time.Hour)
	if _, ok := allowedBy(o, bob, "ads.test", "www.shop.test"); ok {
		t.Error("the hour-long override outlived its hour")
	}
	// Only permanent overrides are saved.
	path := filepath.Join(t.TempDir(), "allow.jsonl")
	if err := o.Save(path); err != nil {
		t.Fatal(err)
	}
	var loaded Overrides
	if err := loaded.Load(path); err != nil {
		t.Fatal(err)
	}
	if got := loaded.List(); len(got) != 2 || got[0].Host != "tracker.test" || got[1].Client != alice {
		t.Errorf("loaded %+v", got)
	}
}

// allowedBy asks the index a Policy of o's overrides would use.
func allowedBy(o *Overrides, client netip.Addr, host, source string) (Override, bool) {
	ix := indexOverrides(o.List())
	return ix.allowed(client, host, source, o.now())
}
