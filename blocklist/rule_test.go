package blocklist

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// ruleEqual compares two rules field by field, ignoring Text.
func ruleEqual(a, b *Rule) bool {
	x, y := *a, *b
	x.Text, y.Text = "", ""
	return reflect.DeepEqual(x, y)
}

var parseRuleCases = []struct {
	line string
	want Rule // Text is filled in from line
}{
	// Patterns and anchors.
	{"ad-banner", Rule{Pattern: "ad-banner"}},
	{"  ||ads.example.com^  ", Rule{Pattern: "ads.example.com^", AnchorHost: true}},
	{"|https://x.com/ad", Rule{Pattern: "https://x.com/ad", AnchorStart: true}},
	{"swf|", Rule{Pattern: "swf", AnchorEnd: true}},
	{"|http://a.com/|", Rule{Pattern: "http://a.com/", AnchorStart: true, AnchorEnd: true}},
	{"/banner/*/img^", Rule{Pattern: "/banner/*/img^"}},
	{"@@||good.com^$document", Rule{Exception: true, Pattern: "good.com^", AnchorHost: true, Types: TypeDocument}},
	{"/ads?[0-9]+/", Rule{Pattern: "ads?[0-9]+", Regexp: true}},
	{"/ads$/", Rule{Pattern: "ads$", Regexp: true}},
	{"/ads$/$image", Rule{Pattern: "ads$", Regexp: true, Types: TypeImage}},
	{"/Ads/$match-case", Rule{Pattern: "Ads", Regexp: true, MatchCase: true}},
	{"Banner.gif$match-case", Rule{Pattern: "Banner.gif", MatchCase: true}},
	{"Banner.gif$~match-case", Rule{Pattern: "Banner.gif"}},
	{"||x.com/$ads$image", Rule{Pattern: "x.com/$ads", AnchorHost: true, Types: TypeImage}},
	{"||x.com/page#frag", Rule{Pattern: "x.com/page#frag", AnchorHost: true}},

	// Types.
	{"||t.com^$image,script,stylesheet,css", Rule{Pattern: "t.com^", AnchorHost: true, Types: TypeImage | TypeScript | TypeStylesheet}},
	{"||t.com^$xmlhttprequest,xhr,subdocument,frame", Rule{Pattern: "t.com^", AnchorHost: true, Types: TypeXMLHTTPRequest | TypeSubdocument}},
	{"||t.com^$document,doc,font,media", Rule{Pattern: "t.com^", AnchorHost: true, Types: TypeDocument | TypeFont | TypeMedia}},
	{"||t.com^$websocket,ping,beacon,other,object,object-subrequest", Rule{Pattern: "t.com^", AnchorHost: true, Types: TypeWebSocket | TypePing | TypeOther | TypeObject}},
	{"||t.com^$~image,~script", Rule{Pattern: "t.com^", AnchorHost: true, NotTypes: TypeImage | TypeScript}},
	{"||t.com^$all", Rule{Pattern: "t.com^", AnchorHost: true, Types: typesAll}},
	{"||t.com^$IMAGE", Rule{Pattern: "t.com^", AnchorHost: true, Types: TypeImage}},

	// Party.
	{"||t.com^$third-party", Rule{Pattern: "t.com^", AnchorHost: true, Party: PartyThird}},
	{"||t.com^$3p", Rule{Pattern: "t.com^", AnchorHost: true, Party: PartyThird}},
	{"||t.com^$~first-party", Rule{Pattern: "t.com^", AnchorHost: true, Party: PartyThird}},
	{"||t.com^$~third-party", Rule{Pattern: "t.com^", AnchorHost: true, Party: PartyFirst}},
	{"||t.com^$first-party", Rule{Pattern: "t.com^", AnchorHost: true, Party: PartyFirst}},
	{"||t.com^$1p", Rule{Pattern: "t.com^", AnchorHost: true, Party: PartyFirst}},
	{"||t.com^$strict1p", Rule{Pattern: "t.com^", AnchorHost: true, Party: PartyStrictFirst}},
	{"||t.com^$strict3p", Rule{Pattern: "t.com^", AnchorHost: true, Party: PartyStrictThird}},
	{"$third-party", Rule{Party: PartyThird}},

	// Domains and denyallow.
	{"||t.com^$domain=Example.com|~sub.example.com|google.*", Rule{Pattern: "t.com^", AnchorHost: true,
		Domains: []string{"example.com", "google.*"}, NotDomains: []string{"sub.example.com"}}},
	{"||t.com^$from=a.com", Rule{Pattern: "t.com^", AnchorHost: true, Domains: []string{"a.com"}}},
	{"*$script,3p,denyallow=cdn.com|x.net,domain=site.com", Rule{Pattern: "*", Types: TypeScript, Party: PartyThird,
		DenyAllow: []string{"cdn.com", "x.net"}, Domains: []string{"site.com"}}},
	{"$domain=a.com", Rule{Domains: []string{"a.com"}}},

	// Important, badfilter.
	{"||t.com^$important", Rule{Pattern: "t.com^", AnchorHost: true, Important: true}},
	{"||t.com^$image,badfilter", Rule{Pattern: "t.com^", AnchorHost: true, Types: TypeImage, BadFilter: true}},

	// Redirects.
	{"||t.com/p.gif$image,redirect=1x1.gif", Rule{Pattern: "t.com/p.gif", AnchorHost: true, Types: TypeImage, Redirect: "1x1.gif"}},
	{"||t.com/a.js$script,redirect-rule=noopjs", Rule{Pattern: "t.com/a.js", AnchorHost: true, Types: TypeScript, Redirect: "noopjs", RedirectRule: true}},
	{"||t.com/a.js$redirect=noopjs:100", Rule{Pattern: "t.com/a.js", AnchorHost: true, Redirect: "noopjs:100"}},
	{"||t.com/ga.js$redirect=google-analytics_ga.js", Rule{Pattern: "t.com/ga.js", AnchorHost: true, Redirect: "google-analytics_ga.js"}},
	{"||t.com/x$empty", Rule{Pattern: "t.com/x", AnchorHost: true, Redirect: "empty"}},
	{"||t.com/x$media,mp4", Rule{Pattern: "t.com/x", AnchorHost: true, Types: TypeMedia, Redirect: "mp4"}},
	{"@@||t.com^$redirect-rule=noopjs", Rule{Exception: true, Pattern: "t.com^", AnchorHost: true, Redirect: "noopjs", RedirectRule: true}},
	{"@@||t.com^$redirect-rule", Rule{Exception: true, Pattern: "t.com^", AnchorHost: true, Redirect: "none", RedirectRule: true}},

	// Query parameters.
	{"$removeparam=utm_source", Rule{RemoveParam: true, Param: "utm_source"}},
	{"||t.com^$removeparam=~keep", Rule{Pattern: "t.com^", AnchorHost: true, RemoveParam: true, Param: "~keep"}},
	{"$removeparam=/^utm_.*$/", Rule{RemoveParam: true, Param: "/^utm_.*$/"}},
	{"$removeparam=/^(a,b)=/i", Rule{RemoveParam: true, Param: "/^(a,b)=/i"}},
	{"||t.com^$removeparam", Rule{Pattern: "t.com^", AnchorHost: true, RemoveParam: true}},
	{"$queryprune=fbclid", Rule{RemoveParam: true, Param: "fbclid"}},
	{"@@||t.com^$removeparam=gclid", Rule{Exception: true, Pattern: "t.com^", AnchorHost: true, RemoveParam: true, Param: "gclid"}},

	// Inert options.
	{"||t.com^$csp=script-src 'none'", Rule{Pattern: "t.com^", AnchorHost: true, Inert: []string{"csp=script-src 'none'"}}},
	{"||t.com^$popup", Rule{Pattern: "t.com^", AnchorHost: true, Inert: []string{"popup"}}},
	{"||t.com^$popup,script", Rule{Pattern: "t.com^", AnchorHost: true, Types: TypeScript}},
	{"@@||t.com^$generichide", Rule{Exception: true, Pattern: "t.com^", AnchorHost: true, Inert: []string{"generichide"}}},
	{"@@||t.com^$elemhide,image", Rule{Exception: true, Pattern: "t.com^", AnchorHost: true, Types: TypeImage, Inert: []string{"elemhide"}}},
	{"$csp=default-src 'self'", Rule{Inert: []string{"csp=default-src 'self'"}}},
}

func TestParseRule(t *testing.T) {
	for _, c := range parseRuleCases {
		t.Run(c.line, func(t *testing.T) {
			r, err := ParseRule(c.line)
			if err != nil {
				t.Fatalf("ParseRule(%q) error: %v", c.line, err)
			}
			if want := strings.TrimSpace(c.line); r.Text != want {
				t.Errorf("ParseRule(%q).Text = %q, want %q", c.line, r.Text, want)
			}
			if !ruleEqual(r, &c.want) {
				t.Errorf("ParseRule(%q) =\n\t%#v\nwant\n\t%#v", c.line, *r, c.want)
			}
		})
	}
}

// checkRoundTrip checks that ParseRule(r.String()) gives r back, Text aside.
func checkRoundTrip(t *testing.T, line string, r *Rule) {
	t.Helper()
	s := r.String()
	r2, err := ParseRule(s)
	if err != nil {
		t.Errorf("ParseRule(%q) (String of %q) error: %v", s, line, err)
		return
	}
	if !ruleEqual(r, r2) {
		t.Errorf("ParseRule(%q) =\n\t%#v\nwant (from %q)\n\t%#v", s, *r2, line, *r)
	}
	if s2 := r2.String(); s2 != s {
		t.Errorf("String not stable: %q then %q", s, s2)
	}
}

func TestParseRuleRoundTrip(t *testing.T) {
	for _, c := range parseRuleCases {
		r, err := ParseRule(c.line)
		if err != nil {
			t.Fatalf("ParseRule(%q) error: %v", c.line, err)
		}
		checkRoundTrip(t, c.line, r)
	}
}

// TestParseRuleTrickyRoundTrip: lines whose String once parsed to another
// rule (found by FuzzParseRule).
func TestParseRuleTrickyRoundTrip(t *testing.T) {
	for _, line := range []string{
		"x$csp=a ,image",         // a value ending in blanks: option values are trimmed
		"$removeparam=a\t,image", // same
		"||x$image$~match-case",  // options that print as nothing: String adds a no-op option
		"a$image$~popup",         // same
		"/a/$empty$~match-case",  // same, and the pattern must not become a regex
		"@@/$popup,/$",           // the option check must not see the "@@"
	} {
		r, err := ParseRule(line)
		if err != nil {
			t.Fatalf("ParseRule(%q) error: %v", line, err)
		}
		checkRoundTrip(t, line, r)
	}
}

func TestParseRuleErrors(t *testing.T) {
	cases := []struct {
		line, errText string // errText: a substring of the error
	}{
		{"||t.com^$image,foo", "unknown option"}, {"||x.com/$ads", "unknown option"},
		{`||x^$badfilter,domain=a.com\`, "bad domain"}, {"||t.com^$third-party,Bogus=1", "unknown option"},
		{"||t.com^$image,", "empty option"}, {"||", "empty pattern after anchor"},
		{"|", "empty pattern after anchor"}, {"||$image", "empty pattern after anchor"},
		{"|$script", "empty pattern after anchor"}, {"||t.com^$~domain=a.com", "cannot be negated"},
		{"||t.com^$~important", "cannot be negated"}, {"||t.com^$~badfilter", "cannot be negated"},
		{"||t.com^$~removeparam=x", "cannot be negated"}, {"/(/", "regex"},
		{"/a[/$image", "regex"}, {"$removeparam=/(/", "removeparam"},
		{"$removeparam=/x/g", "removeparam"}, {"*", "rule matches everything"},
		{"@@*", "rule matches everything"}, {"^", "rule matches everything"},
		{"*$~image", "rule matches everything"}, {"||t.com^$domain=", "needs a value"},
		{"||t.com^$redirect", "needs a value"}, {"||t.com^$image=1", "takes no value"},
		{"||t.com^$redirect=bogus", "unknown redirect resource"}, {"||t.com^$domain=a.com/x", "bad domain"},
		{"||t.com^$domain=a*.com", "bad domain"}, {"||t.com^$denyallow=~a.com", "denyallow"},
		{"||t.com^$removeparam=x,important", "cannot be combined"}, {"||t.com^$removeparam=x,redirect=noopjs", "cannot be combined"},
		{"||a b.com^", "space in pattern"},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			r, err := ParseRule(c.line)
			if err == nil {
				t.Fatalf("ParseRule(%q) = %v, want error containing %q", c.line, r, c.errText)
			}
			if errors.Is(err, ErrNotNetwork) {
				t.Fatalf("ParseRule(%q) error = ErrNotNetwork, want a parse error containing %q", c.line, c.errText)
			}
			if !strings.Contains(err.Error(), c.errText) {
				t.Errorf("ParseRule(%q) error = %q, want it to contain %q", c.line, err, c.errText)
			}
		})
	}
}

func TestParseRuleNotNetwork(t *testing.T) {
	lines := []string{
		"", "   ", "\t", "! comment", "!", "[Adblock Plus 2.0]", "# hosts comment", "#",
		"example.com##.ad", "##.ad", "###ad-box", "example.com#@#.ad", "example.com#?#div:has(.ad)",
		"example.com#$#body { color: red }", "example.com##+js(set-constant, x, 1)", "##+js(nobab)",
		"example.com#@?#.x", "example.com#%#//scriptlet('abort-on-property-read', 'x')",
		"example.com$$script[data-ad]", "example.com$@$script", "example.com##^script:has-text(ad)",
	}
	for _, line := range lines {
		t.Run(line, func(t *testing.T) {
			r, err := ParseRule(line)
			if !errors.Is(err, ErrNotNetwork) {
				t.Errorf("ParseRule(%q) = %v, %v; want ErrNotNetwork", line, r, err)
			}
		})
	}
}

func TestIsCosmetic(t *testing.T) {
	cases := []struct {
		line string
		want bool
	}{
		{"example.com##.ad", true}, {"example.com#@#.ad", true}, {"example.com#?#.ad:has(p)", true},
		{"example.com#$#.ad { x: y }", true}, {"example.com#%#var x", true}, {"example.com#@$#.ad { x: y }", true},
		{"example.com#@%#var x", true}, {"example.com$$script", true}, {"example.com$@$script", true},
		{"||x.com/page#frag", false}, {"||x.com/#/ad#x", false}, {"/ads$$/", false},
		{"/ads$/", false}, {"$removeparam=/^utm_.*$/", false}, {"||x.com/$ads$image", false},
		{"#", false},
	}
	for _, c := range cases {
		if got := isCosmetic(c.line); got != c.want {
			t.Errorf("isCosmetic(%q) = %v, want %v", c.line, got, c.want)
		}
	}
}

func TestOptionsStart(t *testing.T) {
	cases := []struct {
		s    string
		want int
	}{
		{"/ads$/", -1}, {"/ads$/$image", 6}, {"$removeparam=/^utm_.*$/", 0},
		{"||x.com/$ads$image", 12}, {"||x.com/$ads", -1}, {"ads$", -1},
		// An unknown option right after the $ makes the $ part of the pattern.
		{"||t.com^$foo", -1}, {"a$image$b", -1}, {"||a.com^$~third-party", 8},
		{"||a.com^$Domain=a.com", 8}, {"/a$b/$domain=x.com", 5},
	}
	for _, c := range cases {
		if got := optionsStart(c.s); got != c.want {
			t.Errorf("optionsStart(%q) = %d, want %d", c.s, got, c.want)
		}
	}
}
