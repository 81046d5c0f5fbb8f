package blocklist

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"
)

// Party restricts a rule to first- or third-party requests.
type Party uint8

const (
	PartyAny         Party = iota
	PartyFirst             // $first-party, $1p, $~third-party: same registrable domain
	PartyThird             // $third-party, $3p: another registrable domain (or unknown page)
	PartyStrictFirst       // $strict1p: same hostname
	PartyStrictThird       // $strict3p: another hostname
)

// Rule is one parsed Adblock network filter. It is what ParseRule returns and
// what String prints back; the Matcher keeps a compact compiled form.
type Rule struct {
	Text      string // the line as written, trimmed
	Exception bool   // @@

	// Pattern is the URL pattern without its anchors, as written (case kept),
	// or for a regex rule the expression between the slashes.
	Pattern     string
	Regexp      bool
	AnchorStart bool // |
	AnchorHost  bool // ||
	AnchorEnd   bool // trailing |

	Types    Type // types named in the options; 0 when none were
	NotTypes Type // types negated in the options (~image)
	Party    Party

	Domains    []string // $domain= entries the page must be on (lower case)
	NotDomains []string // $domain= entries with ~
	DenyAllow  []string // $denyallow= hosts the rule never applies to

	Important bool
	BadFilter bool
	MatchCase bool

	// Redirect names the resource of $redirect= or $redirect-rule=
	// (RedirectRule). A $redirect= rule also blocks; a $redirect-rule= one
	// only chooses the answer when another rule blocks.
	Redirect     string
	RedirectRule bool

	// RemoveParam is set for $removeparam (alias $queryprune) rules, which do
	// not block but clean URLs. Param is its value: "" removes every
	// parameter, "name", "~name" (all but name) or "/regex/".
	RemoveParam bool
	Param       string

	// Inert lists options we parse but do not act on ($csp, $popup,
	// $generichide, …). A rule with any is kept out of the matcher, because
	// those options change what the rule means: applying it as a plain block
	// would block the wrong things.
	Inert []string
}

// ErrNotNetwork is returned by ParseRule for lines that are not network
// filters: comments, blank lines and cosmetic (element hiding, scriptlet)
// rules.
var ErrNotNetwork = errors.New("not a network filter")

// isCosmetic reports whether a line is an element-hiding, extended CSS,
// scriptlet or HTML filter (##, #@#, #?#, #$#, #%#, $$ and their exceptions).
func isCosmetic(line string) bool {
	for i := strings.IndexByte(line, '#'); i >= 0 && i+1 < len(line); {
		rest := line[i+1:]
		if rest[0] == '#' || strings.HasPrefix(rest, "@#") || strings.HasPrefix(rest, "?#") ||
			strings.HasPrefix(rest, "$#") || strings.HasPrefix(rest, "%#") || strings.HasPrefix(rest, "@?#") ||
			strings.HasPrefix(rest, "@$#") || strings.HasPrefix(rest, "@%#") {
			return true
		}
		j := strings.IndexByte(rest, '#')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	if i := strings.Index(line, "$$"); i > 0 && !strings.HasPrefix(line, "/") {
		return true
	}
	return strings.Contains(line, "$@$")
}

// ParseRule parses one line of an Adblock list as a network filter.
func ParseRule(line string) (*Rule, error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '!' || line[0] == '[' || strings.HasPrefix(line, "# ") || line == "#" {
		return nil, ErrNotNetwork
	}
	if isCosmetic(line) {
		return nil, ErrNotNetwork
	}
	r := &Rule{Text: line}
	s := line
	if strings.HasPrefix(s, "@@") {
		r.Exception = true
		s = s[2:]
	}
	if i := optionsStart(s); i >= 0 {
		if err := r.parseOptions(s[i+1:]); err != nil {
			return nil, err
		}
		s = s[:i]
	} else if name, ok := optionLike(s); ok {
		return nil, fmt.Errorf("unknown option %q", name)
	}
	if len(s) >= 3 && s[0] == '/' && s[len(s)-1] == '/' {
		r.Regexp = true
		r.Pattern = s[1 : len(s)-1]
		flags := syntax.Perl
		if !r.MatchCase {
			flags |= syntax.FoldCase
		}
		if _, err := syntax.Parse(r.Pattern, flags); err != nil {
			return nil, fmt.Errorf("regex %s: %w", s, err)
		}
	} else {
		switch {
		case strings.HasPrefix(s, "||"):
			r.AnchorHost = true
			s = s[2:]
		case strings.HasPrefix(s, "|"):
			r.AnchorStart = true
			s = s[1:]
		}
		if strings.HasSuffix(s, "|") {
			r.AnchorEnd = true
			s = s[:len(s)-1]
		}
		if s == "" && (r.AnchorHost || r.AnchorStart || r.AnchorEnd) {
			return nil, errors.New("empty pattern after anchor")
		}
		if strings.ContainsAny(s, " \t") {
			return nil, errors.New("space in pattern")
		}
		r.Pattern = s
	}
	if strings.Trim(r.Pattern, "*^") == "" && r.Types == 0 && len(r.Domains) == 0 && !r.RemoveParam &&
		r.Party == PartyAny && len(r.Inert) == 0 && !r.BadFilter {
		return nil, errors.New("rule matches everything")
	}
	if r.RemoveParam && (r.Redirect != "" || r.Important) {
		return nil, errors.New("$removeparam cannot be combined with $redirect or $important")
	}
	return r, nil
}

// optionsStart finds the '$' that starts the options: the last one followed
// by a known option name, and not inside a /regex/ pattern.
func optionsStart(s string) int {
	regexEnd := -1
	if len(s) > 1 && s[0] == '/' {
		regexEnd = strings.LastIndex(s, "/$")
	}
	for i := strings.LastIndexByte(s, '$'); i >= 0; i = strings.LastIndexByte(s[:i], '$') {
		if regexEnd >= 0 && i != regexEnd+1 && i < regexEnd {
			break
		}
		name := s[i+1:]
		if j := strings.IndexAny(name, ",="); j >= 0 {
			name = name[:j]
		}
		name = strings.TrimPrefix(name, "~")
		if _, ok := optionNames[strings.ToLower(name)]; ok {
			return i
		}
	}
	return -1
}

// optionLike reports whether the text after the last '$' is shaped like an
// option list ("name", "~name", "name=value", "name,…") whose first name we
// do not know: a typo in an option should be a reported bad line, not a
// pattern that silently matches nothing.
func optionLike(s string) (string, bool) {
	i := strings.LastIndexByte(s, '$')
	if i < 0 || i+1 >= len(s) || strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/") {
		return "", false
	}
	rest := s[i+1:]
	name := rest
	if j := strings.IndexAny(rest, ",="); j >= 0 {
		name = rest[:j]
	}
	name = strings.TrimPrefix(name, "~")
	if len(name) < 2 {
		return "", false
	}
	for k := 0; k < len(name); k++ {
		if c := name[k]; !(c >= 'a' && c <= 'z' || c == '-' || c == '_' || c >= '0' && c <= '9') {
			return "", false
		}
	}
	return name, true
}

// String prints the rule in canonical form: parsing it again gives the same
// rule (except for Text).
func (r *Rule) String() string {
	var b strings.Builder
	switch {
	case r.Regexp:
		b.WriteString("/" + r.Pattern + "/")
	default:
		if r.AnchorHost {
			b.WriteString("||")
		} else if r.AnchorStart {
			b.WriteString("|")
		}
		b.WriteString(r.Pattern)
		if r.AnchorEnd {
			b.WriteString("|")
		}
	}
	var buf [8]string
	opts := r.appendOptions(buf[:0])
	// ParseRule looks for options after taking off "@@", so the check runs
	// on the pattern alone.
	if len(opts) == 0 && !r.Regexp && optionsStart(b.String()) >= 0 {
		// The pattern holds a "$" that would read as options: a no-op
		// option keeps it a pattern.
		opts = append(opts, "~match-case")
	}
	if len(opts) > 0 {
		b.WriteString("$" + strings.Join(opts, ","))
	}
	if r.Exception {
		return "@@" + b.String()
	}
	return b.String()
}

// appendOptions appends r's options to opts in String's canonical order.
func (r *Rule) appendOptions(opts []string) []string {
	for i, name := range typeNames {
		if r.Types&(1<<i) != 0 {
			opts = append(opts, name)
		}
	}
	for i, name := range typeNames {
		if r.NotTypes&(1<<i) != 0 {
			opts = append(opts, "~"+name)
		}
	}
	switch r.Party {
	case PartyFirst:
		opts = append(opts, "first-party")
	case PartyThird:
		opts = append(opts, "third-party")
	case PartyStrictFirst:
		opts = append(opts, "strict1p")
	case PartyStrictThird:
		opts = append(opts, "strict3p")
	}
	if r.Important {
		opts = append(opts, "important")
	}
	if r.MatchCase {
		opts = append(opts, "match-case")
	}
	if len(r.Domains)+len(r.NotDomains) > 0 {
		ds := append([]string(nil), r.Domains...)
		for _, d := range r.NotDomains {
			ds = append(ds, "~"+d)
		}
		opts = append(opts, "domain="+strings.Join(ds, "|"))
	}
	if len(r.DenyAllow) > 0 {
		opts = append(opts, "denyallow="+strings.Join(r.DenyAllow, "|"))
	}
	if r.Redirect != "" {
		if r.RedirectRule {
			opts = append(opts, "redirect-rule="+r.Redirect)
		} else {
			opts = append(opts, "redirect="+r.Redirect)
		}
	}
	if r.RemoveParam {
		if r.Param == "" {
			opts = append(opts, "removeparam")
		} else {
			opts = append(opts, "removeparam="+r.Param)
		}
	}
	if r.BadFilter {
		opts = append(opts, "badfilter")
	}
	return append(opts, r.Inert...)
}
