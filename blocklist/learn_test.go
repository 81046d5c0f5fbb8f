package blocklist

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLearnPattern(t *testing.T) {
	for _, tc := range []struct {
		url, want string // want "" when nothing may be learned
	}{
		{"https://t.news.brand.example/o/8f3a9c2e71b54d0e", "t.news.brand.example/o/*"},
		{"https://t.news.brand.example/o/MTIzNDU2Nzg5MGFiY2RlZg", "t.news.brand.example/o/*"},
		{"http://mail.shop.example/open.gif?uid=123456789", "mail.shop.example/open.gif?uid="},
		{"http://mail.shop.example/open.gif?uid=123456789&cid=ab12cd34", "mail.shop.example/open.gif?uid=*&cid="},
		{"http://mail.shop.example/open.gif?e=reader%40mail.example", "mail.shop.example/open.gif?e="},
		{"https://e.brand.example/t/9f86d081884c7d65/2c26b46b68ffc68f.gif", "e.brand.example/t/*/*.gif"},
		{"https://e.brand.example/wf/open/550e8400-e29b-41d4-a716-446655440000", "e.brand.example/wf/open/*"},
		{"http://t.brand.example:8080/o/abc12345", "t.brand.example:8080/o/*"},
		{"https://t.brand.example:443/o/abc12345", "t.brand.example/o/*"},
		// No identifier: the host's ordinary images look like this.
		{"https://cdn.shop.example/images/logo.png", ""},
		{"https://cdn.shop.example/img/spacer.gif?v=2", ""},
		{"https://cdn.shop.example/2024/pixel.gif", ""},
		// Nothing but identifiers: the rule would take the whole host.
		{"https://t.brand.example/8f3a9c2e71b54d0e", ""},
		{"https://t.brand.example/8f3a9c2e71b54d0e/abc123def456.gif", ""},
		// Characters the filter syntax reads.
		{"https://t.brand.example/o$x/abc12345", ""},
		{"https://t.brand.example/o^x/abc12345", "t.brand.example/o%5Ex/*"}, // as URL.String escapes it
		{"https://other.example/o/abc12345", ""},                            // not the host given
		{"http://192.0.2.7/o/abc12345", "192.0.2.7/o/*"},
		// Open-pixel shapes as EasyPrivacy's email-tracker rules name them
		// (/wf/open?upn=, /track/open.php?, /open.aspx?, awstrack.me,
		// cmail*.com/t/), with fictional hosts and identifiers.
		{"https://u123.ct.brand.example/wf/open?upn=MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1u", "u123.ct.brand.example/wf/open?upn="},
		{"https://brand.us5.list-manage.example/track/open.php?u=1a2b3c4d5e&id=9f8e7d6c5b&e=0a1b2c3d4e", "brand.us5.list-manage.example/track/open.php?u=*&id=*&e="},
		{"https://cl.s7.brand.example/open.aspx?ffcb10-fec5157475620d7c-fe2a1570726d0d7d7c1d72", "cl.s7.brand.example/open.aspx?*"},
		{"https://r.eu-west-1.awstrack.example/I0/0102018c1a2b3c4d-5e6f7a8b/9c0d1e2f3a4b5c6d=123", "r.eu-west-1.awstrack.example/I0/*/*"},
		{"https://t.brand.example/t/y-o-abc123def-l/t.gif", "t.brand.example/t/*/t.gif"},
		{"https://r.brand.example/8f3a9c2e71b54d0e.gif", ""}, // nothing but the identifier
		{"http://[2001:db8::1]:8080/o/abc12345", ""},
		{"", ""}, {"http://", ""}, {"http://t.brand.example", ""}, {"mailto:a@b.example", ""}, {"http://t.brand.example/o/%zz/abc12345", ""},
	} {
		host := "t.brand.example"
		if u, err := url.Parse(tc.url); err == nil && u.Hostname() != "" && !strings.Contains(tc.url, "other.example") {
			host = u.Hostname()
		}
		got, ok := learnPattern(host, tc.url)
		if !ok {
			got = ""
		}
		if got != tc.want {
			t.Errorf("learnPattern(%q) = %q, %v; want %q", tc.url, got, ok, tc.want)
		}
	}
}

// learnClock is a settable clock for a Learner.
type learnClock struct{ t time.Time }

func (c *learnClock) now() time.Time { return c.t }

func newTestLearner(t *testing.T, opts LearnerOptions) (*Learner, *learnClock) {
	t.Helper()
	clock := &learnClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	opts.Now = clock.now
	l, err := NewLearner(opts)
	if err != nil {
		t.Fatalf("NewLearner: %v", err)
	}
	return l, clock
}

func openURL(id string) string { return "https://t.news.brand.example/o/" + id }

// learnMatch is the learner's decision on an image request from a page of
// another site.
func learnMatch(t *testing.T, l *Learner, rawURL string) Decision {
	t.Helper()
	req, err := NewRequest(rawURL, "https://webmail.example/inbox", TypeImage)
	if err != nil {
		t.Fatal(err)
	}
	return l.Match(req)
}

func TestLearnerThresholds(t *testing.T) {
	const host = "t.news.brand.example"
	const want = "||t.news.brand.example/o/*$image"

	t.Run("two hits do not learn", func(t *testing.T) {
		l, c := newTestLearner(t, LearnerOptions{})
		for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0"} {
			if rule, ok := l.Observe(host, openURL(id), TypeImage, c.t); ok {
				t.Fatalf("learned %q after fewer than 3 hits", rule)
			}
		}
		if d := learnMatch(t, l, openURL("0f9e8d7c6b")); d.Action != Pass {
			t.Errorf("Match after 2 hits = %v %q, want pass", d.Action, d.Rule)
		}
	})
	t.Run("three hits from one URL do not learn", func(t *testing.T) {
		l, c := newTestLearner(t, LearnerOptions{})
		for range 5 {
			if rule, ok := l.Observe(host, openURL("a1b2c3d4e5"), TypeImage, c.t); ok {
				t.Fatalf("learned %q from one URL", rule)
			}
		}
		if len(l.Rules()) != 0 {
			t.Errorf("Rules = %v, want none", l.Rules())
		}
	})
	t.Run("three hits from two URLs learn", func(t *testing.T) {
		l, c := newTestLearner(t, LearnerOptions{})
		var got []string
		for _, id := range []string{"a1b2c3d4e5", "a1b2c3d4e5", "f6a7b8c9d0"} {
			if rule, ok := l.Observe(host, openURL(id)+"?utm_source=x&rid=ab12cd34ef", TypeImage, c.t); ok {
				got = append(got, rule)
			}
		}
		wantQ := "||t.news.brand.example/o/*?utm_source=*&rid=$image"
		if len(got) != 1 || got[0] != wantQ {
			t.Fatalf("learned %q, want exactly [%q] on the third hit", got, wantQ)
		}
		rs := l.Rules()
		if len(rs) != 1 || rs[0].Host != host || !rs[0].Learned.Equal(c.t) || rs[0].Hits != 0 {
			t.Fatalf("Rules = %+v", rs)
		}
		if strings.Contains(rs[0].Example, "ab12cd34ef") || !strings.Contains(rs[0].Example, "rid=") {
			t.Errorf("example %q: want the parameter names without their values", rs[0].Example)
		}
		if d := learnMatch(t, l, openURL("99887766aa")+"?utm_source=y&rid=zz99yy88"); d.Action != Block || d.Rule != wantQ || d.List != LearnedListName {
			t.Errorf("Match(fresh id) = %v %q %q, want block by %q in %q", d.Action, d.Rule, d.List, wantQ, LearnedListName)
		}
		// A fourth hit of the same shape is not learned again.
		if rule, ok := l.Observe(host, openURL("0a0b0c0d0e")+"?utm_source=x&rid=1", TypeImage, c.t); ok {
			t.Errorf("learned %q twice", rule)
		}
	})
	t.Run("narrow", func(t *testing.T) {
		l, c := newTestLearner(t, LearnerOptions{})
		for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b"} {
			l.Observe(host, openURL(id), TypeImage, c.t)
		}
		if d := learnMatch(t, l, openURL("1234abcd5678")); d.Action != Block || d.Rule != want {
			t.Errorf("Match(fresh id) = %v %q, want block by %q", d.Action, d.Rule, want)
		}
		for _, u := range []string{
			"https://t.news.brand.example/images/logo.png",
			"https://t.news.brand.example/p/a1b2c3d4e5",
			"https://brand.example/o/a1b2c3d4e5",
		} {
			if d := learnMatch(t, l, u); d.Action != Pass {
				t.Errorf("Match(%s) = %v by %q, want pass: the rule is too wide", u, d.Action, d.Rule)
			}
		}
		src := Compile(l.Source())
		if st := src.Lists()[0]; st.Name != LearnedListName || st.Rules() != 1 || st.BadCount != 0 {
			t.Errorf("Source compiles to %s with %d rules and %d bad lines, want %s with 1 and 0", st.Name, st.Rules(), st.BadCount, LearnedListName)
		}
	})
	t.Run("no identifier no rule", func(t *testing.T) {
		l, c := newTestLearner(t, LearnerOptions{})
		for _, v := range []string{"1", "2", "3", "4"} {
			if rule, ok := l.Observe("cdn.shop.example", "https://cdn.shop.example/img/spacer.gif?v="+v, TypeImage, c.t); ok {
				t.Fatalf("learned %q for a shape with no identifier", rule)
			}
		}
	})
}

func TestLearnerAllowedHost(t *testing.T) {
	allowed := map[string]bool{"t.allowed.example": true}
	l, c := newTestLearner(t, LearnerOptions{Allowed: func(h string) bool { return allowed[h] }})
	for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b", "1234abcd5678"} {
		if rule, ok := l.Observe("t.allowed.example", "https://t.allowed.example/o/"+id, TypeImage, c.t); ok {
			t.Fatalf("learned %q for an allowed host", rule)
		}
	}
	// Learned, then allowed: the rule stops applying.
	for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b"} {
		l.Observe("t.news.brand.example", openURL(id), TypeImage, c.t)
	}
	if d := learnMatch(t, l, openURL("1234abcd5678")); d.Action != Block {
		t.Fatalf("Match before the allow = %v, want block", d.Action)
	}
	allowed["t.news.brand.example"] = true
	if d := learnMatch(t, l, openURL("1234abcd5678")); d.Action != Pass {
		t.Errorf("Match after the host was allowed = %v by %q, want pass", d.Action, d.Rule)
	}
}

func TestLearnerExpiry(t *testing.T) {
	l, c := newTestLearner(t, LearnerOptions{})
	for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b"} {
		l.Observe("t.news.brand.example", openURL(id), TypeImage, c.t)
	}
	day := 24 * time.Hour
	c.t = c.t.Add(29 * day)
	d := learnMatch(t, l, openURL("1234abcd5678"))
	if d.Action != Block {
		t.Fatalf("Match after 29 days unused = %v, want block", d.Action)
	}
	l.Touch(d.Rule, c.t) // it blocked: alive for 30 more days
	c.t = c.t.Add(29 * day)
	if d := learnMatch(t, l, openURL("5678abcd1234")); d.Action != Block {
		t.Fatalf("Match 29 days after its last use = %v, want block", d.Action)
	}
	c.t = c.t.Add(day + time.Hour) // 30 days and an hour unused
	if d := learnMatch(t, l, openURL("9999abcd1234")); d.Action != Pass {
		t.Errorf("Match after 30 days unused = %v by %q, want pass (expired)", d.Action, d.Rule)
	}
	if rs := l.Rules(); len(rs) != 0 {
		t.Errorf("Rules after expiry = %+v, want none", rs)
	}
	if rs := l.Matcher().Lists()[0].Rules(); rs != 0 {
		t.Errorf("matcher keeps %d rules after expiry, want 0", rs)
	}
}

func TestLearnerUnlearn(t *testing.T) {
	// OnChange sees each new matcher, and may call the learner back.
	var published []int
	var l *Learner
	l, c := newTestLearner(t, LearnerOptions{OnChange: func(m *Matcher) {
		if m != l.Matcher() || len(l.Source().Text) == 0 {
			t.Error("OnChange got another matcher than the learner's")
		}
		published = append(published, m.Lists()[0].Rules())
	}})
	var rule string
	for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b"} {
		if r, ok := l.Observe("t.news.brand.example", openURL(id), TypeImage, c.t); ok {
			rule = r
		}
	}
	if err := l.Unlearn(rule); err != nil {
		t.Fatalf("Unlearn(%q): %v", rule, err)
	}
	if d := learnMatch(t, l, openURL("1234abcd5678")); d.Action != Pass {
		t.Errorf("Match after Unlearn = %v, want pass", d.Action)
	}
	if err := l.Unlearn(rule); err == nil {
		t.Error("Unlearn of a rule not learned: no error")
	}
	if fmt.Sprint(published) != "[1 0]" {
		t.Errorf("OnChange saw matchers with %v rules, want [1 0] (learned, unlearned)", published)
	}
}

func TestLearnerBounded(t *testing.T) {
	l, c := newTestLearner(t, LearnerOptions{MaxCandidates: 2, MaxRules: 1})
	hit := func(host, id string) (string, bool) {
		return l.Observe(host, "https://"+host+"/o/"+id, TypeImage, c.t)
	}
	// Two hits on a, then b and c push a's candidate out: its third hit
	// starts over.
	hit("a.example", "a1b2c3d4e5")
	hit("a.example", "f6a7b8c9d0")
	hit("b.example", "a1b2c3d4e5")
	hit("c.example", "a1b2c3d4e5")
	if rule, ok := hit("a.example", "0f9e8d7c6b"); ok {
		t.Errorf("learned %q from a candidate that should have been dropped", rule)
	}
	// One rule at most: learning a second drops the least recently used.
	for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b"} {
		hit("d.example", id)
	}
	c.t = c.t.Add(time.Minute)
	for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b"} {
		hit("e.example", id)
	}
	rs := l.Rules()
	if len(rs) != 1 || rs[0].Host != "e.example" {
		t.Errorf("Rules = %+v, want only e.example's", rs)
	}
}

func TestLearnerPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "learned.json")
	l, c := newTestLearner(t, LearnerOptions{Path: path})
	var rule string
	for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b"} {
		if r, ok := l.Observe("t.news.brand.example", openURL(id)+"?uid=secret123456", TypeImage, c.t); ok {
			rule = r
		}
	}
	c.t = c.t.Add(time.Hour)
	l.Touch(rule, c.t)
	l.Touch(rule, c.t)
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "secret123456") {
		t.Errorf("%s holds a query value:\n%s", path, b)
	}

	l2, err := NewLearner(LearnerOptions{Path: path, Now: c.now})
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	got, want := l2.Rules(), l.Rules()
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 1 || got[0].Hits != 2 || !got[0].LastUsed.Equal(c.t) {
		t.Errorf("after reload Rules = %+v, want %+v (2 hits, last used %v)", got, want, c.t)
	}
	if d := learnMatch(t, l2, openURL("1234abcd5678")+"?uid=x"); d.Action != Block || d.Rule != rule {
		t.Errorf("reloaded Match = %v %q, want block by %q", d.Action, d.Rule, rule)
	}

	src, err := ReadLearnedSource(path, c.t)
	if st := Compile(src).Lists()[0]; err != nil || st.Name != LearnedListName || st.Rules() != 1 {
		t.Errorf("ReadLearnedSource: %v; compiles to %s with %d rules, want %s with 1", err, st.Name, st.Rules(), LearnedListName)
	}

	// A rule unused for the TTL is not loaded.
	c.t = c.t.Add(31 * 24 * time.Hour)
	l3, err := NewLearner(LearnerOptions{Path: path, Now: c.now})
	if err != nil || len(l3.Rules()) != 0 {
		t.Errorf("loaded 31 days later: %v, %+v; want no rules", err, l3.Rules())
	}
}

func TestLearnerCorruptFile(t *testing.T) {
	for name, content := range map[string]string{
		"not json":   `{"rules": [`,
		"whole host": `{"rules": [{"rule": "||t.brand.example^", "host": "t.brand.example", "last_used": "2026-12-01T00:00:00Z"}]}`,
		"exception":  `{"rules": [{"rule": "@@||t.brand.example/o/*", "host": "t.brand.example", "last_used": "2026-12-01T00:00:00Z"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "learned.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			clock := &learnClock{t: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
			l, err := NewLearner(LearnerOptions{Path: path, Now: clock.now})
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("NewLearner error = %v, want one naming %s", err, path)
			}
			if b, rerr := os.ReadFile(path + ".bad"); rerr != nil || string(b) != content {
				t.Errorf("the bad file was not kept aside: %v", rerr)
			}
			if l == nil || len(l.Rules()) != 0 {
				t.Fatal("no usable, empty learner after a bad file")
			}
			for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b"} {
				l.Observe("t.news.brand.example", openURL(id), TypeImage, clock.t)
			}
			if _, err := NewLearner(LearnerOptions{Path: path, Now: clock.now}); err != nil {
				t.Errorf("the learner's own file does not load: %v", err)
			}
		})
	}
}

func TestIdentifier(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"o", false}, {"open.gif", false}, {"pixel", false}, {"2024", false}, {"v2", false}, {"deadbeef", false},
		{"images", false}, {"logo.png", false},
		{"12345", true}, {"a1b2c3", true}, {"8f3a9c2e71b54d0e", true}, {"550e8400-e29b-41d4-a716-446655440000", true},
		{"MTIzNDU2Nzg5MGFiY2RlZg", true}, {"reader@mail.example", true}, {"abc123def456.gif", true},
		{"averyveryverylongsegmentname", true},
	} {
		if got := identifier(tc.s); got != tc.want {
			t.Errorf("identifier(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// BenchmarkLearnerMatch is the cost the proxy adds to a request the lists
// pass: a miss against a few hundred learned rules, and against none.
func BenchmarkLearnerMatch(b *testing.B) {
	req, err := NewRequest("https://cdn.shop.example/images/products/4711/front.jpg", "https://shop.example/item/4711", TypeImage)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{0, 300} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			l, err := NewLearner(LearnerOptions{MaxRules: 1000})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			for i := range n {
				host := fmt.Sprintf("t%d.brand%d.example", i, i)
				for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b"} {
					l.Observe(host, "https://"+host+"/o/"+id, TypeImage, now)
				}
			}
			if got := len(l.Rules()); got != n {
				b.Fatalf("%d rules learned, want %d", got, n)
			}
			b.ReportAllocs()
			for b.Loop() {
				if d := l.Match(req); d.Action != Pass {
					b.Fatalf("Match = %v", d.Action)
				}
			}
		})
	}
}
