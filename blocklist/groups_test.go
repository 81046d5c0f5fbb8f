package blocklist

import (
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

// groupsConfig: kids use only the "mine" list and deny games.test with it;
// work allows crm-tracking.test; the tablet is one address, the laptop an
// address inside a network of the kids (the most specific wins).
func groupsConfig() Config {
	return Config{
		NoDefaults: true,
		Sources: []Source{
			{Name: "mine", Format: FormatAdblock, Text: "||pixel.mine.test^\n||crm-tracking.test^\n"},
			{Name: "other", Format: FormatAdblock, Text: "||other-tracker.test^\n$removeparam=utm_source\n"},
		},
		Deny: []string{"everyone-denied.test"},
		Groups: []Group{
			{Name: "kids", Lists: []string{"mine"}, Deny: []string{"games.test"}},
			{Name: "work", Allow: []string{"crm-tracking.test"}, Settings: GroupSettings{BlockMode: "nxdomain"}},
			{Name: "work2", Allow: []string{"crm-tracking.test"}},
		},
		Clients: []Client{
			{Name: "tablet", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}, Group: "kids"},
			{Name: "laptop", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.40/32"), netip.MustParsePrefix("fd00::40/128")}, Group: "work"},
			{Name: "wide", Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Group: "work2"},
		},
	}
}

func TestGroupsDecide(t *testing.T) {
	s, err := NewService(groupsConfig(), ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Policy()
	tablet, laptop, laptop6 := netip.MustParseAddr("10.0.0.23"), netip.MustParseAddr("10.0.0.40"), netip.MustParseAddr("fd00::40")
	wide, other := netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("192.168.1.5")
	mapped := netip.MustParseAddr("::ffff:10.0.0.23")
	tests := []struct {
		client netip.Addr
		host   string
		want   Action
		list   string
	}{
		{tablet, "pixel.mine.test", Block, "mine"},
		{tablet, "other-tracker.test", Pass, ""}, // kids do not use "other"
		{tablet, "games.test", Block, "deny:kids"},
		{tablet, "everyone-denied.test", Block, ConfigDenyListName},
		{mapped, "games.test", Block, "deny:kids"},
		{other, "games.test", Pass, ""},
		{other, "other-tracker.test", Block, "other"},
		{other, "crm-tracking.test", Block, "mine"},
		{laptop, "crm-tracking.test", Allow, "allow:work"}, // /32 beats the tablet's /24
		{laptop6, "crm-tracking.test", Allow, "allow:work"},
		{laptop, "other-tracker.test", Block, "other"},
		{wide, "crm-tracking.test", Allow, "allow:work2"},
		{wide, "games.test", Pass, ""},
	}
	for _, tc := range tests {
		d := p.DecideHost(tc.host, tc.client)
		req, err := NewRequest("https://"+tc.host+"/p.gif", "https://news.test/", TypeImage)
		if err != nil {
			t.Fatal(err)
		}
		d2 := p.Decide(req, tc.client)
		for _, got := range []Decision{d, d2} {
			if got.Action != tc.want || got.List != tc.list {
				t.Errorf("%s %s: %v by %q (%s), want %v (%s)", tc.client, tc.host, got.Action, got.Rule, got.List, tc.want, tc.list)
			}
		}
	}
	// Parameter cleaning follows the group's lists too.
	clean := func(c netip.Addr) []string {
		req, err := NewRequest("https://shop.test/item?utm_source=x&id=1", "", TypeDocument)
		if err != nil {
			t.Fatal(err)
		}
		_, removed := p.CleanFor(req, c)
		return removed
	}
	if len(clean(tablet)) != 0 || len(clean(other)) != 1 {
		t.Errorf("cleaning: tablet removed %v (its lists have no params rule), other removed %v", clean(tablet), clean(other))
	}
	if g := p.Group(laptop); g.Name != "work" || g.Client != "laptop" || g.Settings.BlockMode != "nxdomain" {
		t.Errorf("Group(laptop) = %+v", g)
	}
	if g := p.Group(other); g.Name != DefaultGroup || g.Client != "" {
		t.Errorf("Group(other) = %+v", g)
	}
	// Groups with the lists of everyone share the one compiled matcher.
	if p.groups[0].m != p.groups[2].m || p.groups[2].m != p.groups[3].m || p.groups[1].m == p.groups[0].m {
		t.Error("groups with the same lists do not share their matcher")
	}
}

// TestGroupsShareCompiledLists: ten groups over two sets of lists compile
// each set once.
func TestGroupsShareCompiledLists(t *testing.T) {
	cfg := groupsConfig()
	cfg.Groups = nil
	for i := range 10 {
		g := Group{Name: fmt.Sprint("g", i)}
		if i%2 == 0 {
			g.Lists = []string{"other", "mine"}
		} else {
			g.Lists = []string{"mine"}
		}
		cfg.Groups = append(cfg.Groups, g)
	}
	s, err := NewService(cfg, ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[*Matcher]bool{}
	for _, g := range s.Policy().groups {
		distinct[g.m] = true
	}
	if len(distinct) != 3 { // every list (default), {mine, other}, {mine}
		t.Errorf("%d matchers compiled for three sets of lists", len(distinct))
	}
}

func TestPauseClientEndsOnTime(t *testing.T) {
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	cfg := groupsConfig()
	s, err := NewService(cfg, ServiceOptions{Dir: dir, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	tablet, other := netip.MustParseAddr("10.0.0.23"), netip.MustParseAddr("192.168.1.5")
	if _, err := s.Pause(Pause{Scope: PauseClient, Name: "tablet", Until: now.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	d := s.Policy().DecideHost("pixel.mine.test", tablet)
	if d.Action != Allow || !d.Paused || d.List != "mine" || d.Rule != "||pixel.mine.test^" {
		t.Fatalf("paused tablet: %+v, want Allow, paused, with the rule that would have blocked", d)
	}
	if d := s.Policy().DecideHost("pixel.mine.test", other); d.Action != Block {
		t.Fatalf("a pause of the tablet touched another client: %+v", d)
	}
	// A reload and a restart keep the pause.
	s.Reload(cfg)
	if d := s.Policy().DecideHost("pixel.mine.test", tablet); !d.Paused {
		t.Fatal("the pause did not survive a reload")
	}
	s2, err := NewService(cfg, ServiceOptions{Dir: dir, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if d := s2.Policy().DecideHost("pixel.mine.test", tablet); !d.Paused {
		t.Fatal("the pause did not survive a restart")
	}
	if ps := s2.Pauses(); len(ps) != 1 || ps[0].Name != "tablet" {
		t.Fatalf("pauses after restart: %v", ps)
	}
	now = now.Add(5*time.Minute - time.Nanosecond)
	if d := s2.Policy().DecideHost("pixel.mine.test", tablet); !d.Paused {
		t.Fatal("the pause ended early")
	}
	now = now.Add(time.Nanosecond)
	if d := s2.Policy().DecideHost("pixel.mine.test", tablet); d.Action != Block || d.Paused {
		t.Fatalf("the pause did not end on time: %+v", d)
	}
	if ps := s2.Pauses(); len(ps) != 0 {
		t.Fatalf("expired pause still listed: %v", ps)
	}
}

func TestPauseScopes(t *testing.T) {
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	s, err := NewService(groupsConfig(), ServiceOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tablet, laptop, other := netip.MustParseAddr("10.0.0.23"), netip.MustParseAddr("10.0.0.40"), netip.MustParseAddr("192.168.1.5")
	blocked := func(host, source string, c netip.Addr) bool {
		req, err := NewRequest("https://"+host+"/p.gif", source, TypeImage)
		if err != nil {
			t.Fatal(err)
		}
		return s.Policy().Decide(req, c).Action == Block
	}
	// A site pause covers requests to the site and from its pages, for everyone.
	if _, err := s.Pause(Pause{Scope: PauseSite, Name: "www.News.test"}); err != nil {
		t.Fatal(err)
	}
	if blocked("other-tracker.test", "https://www.news.test/", other) || !blocked("other-tracker.test", "https://blog.test/", other) {
		t.Error("site pause: wrong coverage")
	}
	if n, err := s.Resume(Pause{Scope: PauseSite, Name: "news.test"}); n != 1 || err != nil {
		t.Fatalf("Resume = %d, %v", n, err)
	}
	if !blocked("other-tracker.test", "https://www.news.test/", other) {
		t.Error("site pause not resumed")
	}
	// A group pause covers its clients only.
	if _, err := s.Pause(Pause{Scope: PauseGroup, Name: "kids"}); err != nil {
		t.Fatal(err)
	}
	if blocked("pixel.mine.test", "", tablet) || !blocked("other-tracker.test", "", laptop) {
		t.Error("group pause: wrong coverage")
	}
	if p := s.Policy(); !p.Paused(tablet, "cloaked.test", "") || p.Paused(laptop, "cloaked.test", "") {
		t.Error("Policy.Paused disagrees with the group pause")
	}
	// A pause of an address; a global one; resume all ends every pause.
	if _, err := s.Pause(Pause{Scope: PauseClient, Name: "192.168.1.5"}); err != nil {
		t.Fatal(err)
	}
	if blocked("other-tracker.test", "", other) || !blocked("other-tracker.test", "", laptop) {
		t.Error("address pause: wrong coverage")
	}
	if _, err := s.Pause(Pause{Scope: PauseAll}); err != nil {
		t.Fatal(err)
	}
	if blocked("other-tracker.test", "", laptop) {
		t.Error("global pause: still blocked")
	}
	if n, _ := s.Resume(Pause{Scope: PauseAll}); n != 3 || !blocked("pixel.mine.test", "", tablet) {
		t.Errorf("resume all ended %d pauses", n)
	}
	for _, bad := range []Pause{{Scope: PauseGroup, Name: "nope"}, {Scope: PauseClient, Name: "nobody"}, {Scope: "x"},
		{Scope: PauseSite, Name: "a b"}, {Scope: PauseAll, Until: now.Add(-time.Second)}} {
		if _, err := s.Pause(bad); err == nil {
			t.Errorf("Pause(%+v) accepted", bad)
		}
	}
}

// BenchmarkDecideGroups decides the corpus for 50 clients in 10 groups
// over the same lists, each with an allow of its own (as
// BenchmarkDecideOneGroup does for one policy without groups): the group
// lookup is the only difference.
func BenchmarkDecideGroups(b *testing.B) { benchDecide(b, 10, 50) }

// BenchmarkDecideOneGroup is BenchmarkDecideGroups' baseline.
func BenchmarkDecideOneGroup(b *testing.B) { benchDecide(b, 0, 50) }

func benchDecide(b *testing.B, groups, clients int) {
	cfg := Config{NoDefaults: true, Sources: easyLists(b)}
	for i := range groups {
		cfg.Groups = append(cfg.Groups, Group{Name: fmt.Sprint("g", i), Allow: []string{fmt.Sprintf("allowed%d.test", i)}})
	}
	var addrs []netip.Addr
	for i := range clients {
		a := netip.AddrFrom4([4]byte{192, 168, byte(i / 200), byte(1 + i%200)})
		addrs = append(addrs, a)
		if groups > 0 {
			cfg.Clients = append(cfg.Clients, Client{Name: fmt.Sprint("c", i), Prefixes: []netip.Prefix{netip.PrefixFrom(a, 32)}, Group: fmt.Sprint("g", i%groups)})
		}
	}
	s, err := NewService(cfg, ServiceOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	p := s.Policy()
	reqs := loadCorpus(b)
	var req Request
	for i, c := range reqs { // warm up, as BenchmarkMatchCorpus does
		if req.Reset(c.URL, c.FrameURL, corpusType(c.CPT)) == nil {
			p.Decide(&req, addrs[i%len(addrs)])
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := &reqs[i%len(reqs)]
		if req.Reset(c.URL, c.FrameURL, corpusType(c.CPT)) == nil {
			p.Decide(&req, addrs[i%len(addrs)])
		}
		i++
	}
}

// TestGroupsMemory reports the live heap of one policy and of ten groups
// over the same lists (half of them with EasyPrivacy alone): lists shared
// by groups are compiled once per distinct set. Figures go in the README;
// the test fails only when groups with the same lists compile again.
func TestGroupsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles EasyList and EasyPrivacy several times")
	}
	srcs := easyLists(t)
	// The heap a Service holds is what its release frees: measuring the
	// growth instead would count the previous round's garbage.
	heap := func(groups int, subset bool) float64 {
		cfg := Config{NoDefaults: true}
		for _, s := range srcs {
			cfg.Sources = append(cfg.Sources, Source{Name: s.Name, Text: strings.Clone(s.Text)})
		}
		for i := range groups {
			g := Group{Name: fmt.Sprint("g", i), Allow: []string{fmt.Sprintf("allowed%d.test", i)}}
			if subset && i%2 == 1 {
				g.Lists = []string{"easyprivacy.txt"}
			}
			cfg.Groups = append(cfg.Groups, g)
		}
		s, err := NewService(cfg, ServiceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Sources = nil
		with := heapAfter()
		runtime.KeepAlive(s)
		s = nil
		return float64(with-heapAfter()) / (1 << 20)
	}
	one, same, mixed := heap(0, false), heap(10, false), heap(10, true)
	t.Logf("live heap: one policy %.1f MiB; ten groups, same lists %.1f MiB; ten groups, two list sets %.1f MiB", one, same, mixed)
	if same > one*1.2+1 {
		t.Errorf("ten groups over the same lists take %.1f MiB, one policy %.1f MiB", same, one)
	}
}

// BenchmarkGroupLookup is the cost groups add to a decision: finding the
// group of one of 50 clients (40 addresses, 10 networks).
func BenchmarkGroupLookup(b *testing.B) {
	var clients []Client
	var addrs []netip.Addr
	for i := range 50 {
		a := netip.AddrFrom4([4]byte{10, byte(i), 0, 7})
		p := netip.PrefixFrom(a, 32)
		if i%5 == 0 {
			p = netip.PrefixFrom(a, 24).Masked()
		}
		clients = append(clients, Client{Name: fmt.Sprint("c", i), Prefixes: []netip.Prefix{p}, Group: fmt.Sprint("g", i%10)})
		addrs = append(addrs, a)
	}
	index := map[string]int{}
	for i := range 10 {
		index[fmt.Sprint("g", i)] = i + 1
	}
	t := newClientTable(clients, index)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if t.lookup(addrs[i%len(addrs)]) < 0 {
			b.Fatal("client not found")
		}
		i++
	}
}
