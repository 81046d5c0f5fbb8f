package blocklist

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		"", "\n", "||a^", "@@||b.com^$document", "/re/", "127.0.0.1", "$removeparam=/x/",
		"||x^$domain=a.com|~b.a.com,3p", "||ä.example/ü$image", "/日本/$match-case", "||x.com/$ads$image",
		"/ads$/", "$removeparam=/^utm_.*$/", "@@||t.com^$redirect-rule", "||t.com^$csp=a\\,b,popup",
		"||" + strings.Repeat("a.", 600) + "com^$domain=" + strings.Repeat("x.com|", 100) + "y.com",
		strings.Repeat("*^|$", 500), "@@x$redirect-rule=",
	} {
		f.Add(s)
	}
	// Lines built from fragments reach option combinations random bytes
	// rarely do.
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	pats := []string{"", "a.com^", "/ads/", "/re[0-9]$/", "x$y", "*", "^", "a|", "|b", "/a,b/", "ü$", "$$", "#x"}
	opts := []string{"image", "~script", "3p", "~1p", "strict1p", "domain=a.com|~b.a.com", "from=google.*", "csp=x$3p",
		"removeparam", "removeparam=/a,b/i", "removeparam=~k", "queryprune=x$y", "redirect=noopjs", "redirect-rule=1x1.gif",
		"badfilter", "important", "match-case", "denyallow=x.com", "popup", "all", "empty", "mp4",
		"document", "generichide", "header=x:y", "domain=A.COM", "csp=a\\,b"}
	for range 2000 {
		line := pick([]string{"", "@@"}) + pick([]string{"", "|", "||"}) + pick(pats)
		for n := rng.IntN(4); n > 0; n-- {
			line += pick([]string{"$", ",", ","}) + pick(opts)
		}
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRule(line)
		if err != nil {
			if r != nil {
				t.Errorf("ParseRule(%q) = %v, %v; want a nil rule with the error", line, r, err)
			}
			return
		}
		checkRoundTrip(t, line, r)
	})
}

// fuzzFixed is a matcher with the built-in lists and some rules of every
// kind, for FuzzMatch's URLs.
var fuzzFixed = Compile(append(Defaults(), Source{Name: "fixed", Text: "||ads.example^\n/banner/*$image\n" +
	"@@||ok.example^$document\n||x.com^$removeparam=~keep\n$removeparam=ref\n/track[0-9]+/\n||[::1]^\n" +
	"||127.0.0.1^$third-party\n0.0.0.0 tracker.example\n"})...)

func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"||a^", "http://a/"},
		{"||127.0.0.1^", "http://127.0.0.1:8080/x?utm_source=1"},
		{"||[::1]^", "http://[::1]:8080/"},
		{"::1 localhost", "http://[::1]/"},
		{"", ""},
		{"/x", "http://"},
		{"$removeparam=a", "https://e.com/?a=1&a=2&b=%41#a=1"},
		{"$removeparam", "https://e.com/?=&&a"},
		{"||EXAMPLE.com^$removeparam=~Keep", "HTTPS://WWW.Example.COM./p?Keep=1&x=2"},
		{"%2F", "https://e.com/a%2Fb?q=%26"},
		{"@@||b.com^$document\n||ads.example^", "https://ads.example/p.gif"},
		{"0.0.0.0 a.com b.com", "https://user@b.com:443/"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, rules, url string) {
		m := Compile(Source{Name: "fuzz", Text: rules})
		for _, typ := range []Type{TypeImage, TypeDocument} {
			req, err := NewRequest(url, "https://page.example/", typ)
			if err != nil {
				return
			}
			for _, mm := range []*Matcher{m, fuzzFixed} {
				d := mm.Match(req)
				if (d.Action == Pass) != (d.Rule == "") || d.Action != Block && d.Response != ResponseNone {
					t.Errorf("Match(%q) = %+v: want a rule iff not pass, and a response only for block", url, d)
				}
				mm.MatchHost(req.Host)
				mm.MatchHost(url)
			}
			checkClean(t, m, req, !hasRegexParam(rules))
			checkClean(t, fuzzFixed, req, true)
		}
	})
}

// hasRegexParam reports whether a list has a $removeparam rule with a regex,
// which may remove only some of the parameters with a name.
func hasRegexParam(rules string) bool {
	for line := range strings.SplitSeq(rules, "\n") {
		if r, err := ParseRule(line); err == nil && r.RemoveParam && strings.Contains(r.Param, "/") {
			return true
		}
	}
	return false
}

// checkClean checks that Clean returns req.URL when it removes nothing and,
// with byName, that no removed name is left among the parameters.
func checkClean(t *testing.T, m *Matcher, req *Request, byName bool) {
	t.Helper()
	got, removed := m.Clean(req)
	if len(removed) == 0 {
		if got != req.URL {
			t.Errorf("Clean(%q) = %q with nothing removed, want the URL unchanged", req.URL, got)
		}
		return
	}
	if r, err := NewRequest(got, "", TypeOther); err != nil || r.Host != req.Host {
		t.Errorf("Clean(%q) = %q: NewRequest gives %v, %v; want host %q", req.URL, got, r, err, req.Host)
	}
	if !byName {
		return
	}
	q := got[strings.Index(got, "://")+3:]
	i := strings.IndexAny(q, "?#")
	if i < 0 || q[i] == '#' {
		return
	}
	q, _, _ = strings.Cut(q[i+1:], "#")
	for pair := range strings.SplitSeq(q, "&") {
		name, _, _ := strings.Cut(pair, "=")
		for _, r := range removed {
			if name == r {
				t.Errorf("Clean(%q) = %q, %q: removed name %q is still there", req.URL, got, removed, r)
			}
		}
	}
}
