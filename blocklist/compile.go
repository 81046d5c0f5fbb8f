package blocklist

import (
	"hash/maphash"
	"strings"
)

// Matcher decides on requests. It is compiled once from lists and never
// changes afterwards, so it is safe for concurrent use; reloading compiles a
// new Matcher and the caller swaps it in whole.
type Matcher struct {
	lists  []ListStats
	rules  []crule
	extras []extra

	hosts hostSet // option-less blocking hostnames, from every format

	important    ruleIndex
	block        ruleIndex
	exception    ruleIndex
	docException ruleIndex // @@…$document: no blocking on matching pages
	redirect     ruleIndex // $redirect-rule
	removeParam  ruleIndex
	keepParam    ruleIndex // @@…$removeparam
	noRedirect   ruleIndex // @@…$redirect, @@…$redirect-rule
	// hostRules holds, by hostname, the heads of the chains of host-keyed
	// rules of every index.
	hostRules map[string]*hostHeads
	// hostBits is a Bloom filter of hostRules' keys (hashed with the host
	// set's seed), eight bits a key.
	hostBits     []uint64
	hostBitsMask uint32
	// params holds "$removeparam=name" rules with no pattern or other
	// option, by name: the common case of a tracking-parameter list.
	params map[string]int32
}

// Lists returns what was made of each list, in the order given to Compile.
// The caller must not modify the result.
func (m *Matcher) Lists() []ListStats { return m.lists }

type parsedRule struct {
	r    *Rule
	list uint16
	line int // 1-based line number
	off  int // offset of r.Text in the list's text
}

// Compile builds a Matcher from lists. Lines that cannot be used are counted
// and reported in Lists; the rest of each list still loads, so Compile cannot
// fail.
func Compile(srcs ...Source) *Matcher {
	m := &Matcher{lists: make([]ListStats, len(srcs)), params: make(map[string]int32), hostRules: make(map[string]*hostHeads)}
	m.hosts.texts = make([]string, len(srcs)+1)
	m.hosts.seed = maphash.MakeSeed()
	cp := &compiler{m: m}
	// freq counts, by token hash, the rules that have the token. It is not
	// kept in compiler, whose contents escape, so that it can stay on the
	// stack.
	freq := make(map[uint32]int)
	for li, src := range srcs {
		cp.readList(li, src, freq)
	}
	if len(cp.bf.twins) > 0 {
		m.applyBadFilters(&cp.bf, &cp.entries)
	}
	cp.buildIndexes(freq)
	m.hosts.texts[len(srcs)] = cp.lowered.String()
	m.hosts.build(func(list uint16) { m.lists[list].Duplicates++ })
	m.buildHostBits()
	m.rules = m.rules[:len(m.rules):len(m.rules)]
	return m
}

// compiler is Compile's work in progress. Rules are compiled as they are
// parsed, so that no parsed Rule outlives its line: a reload then needs
// little more memory than the matcher it builds. $badfilter rules are
// collected and applied at the end.
type compiler struct {
	m       *Matcher
	lowered strings.Builder // lower-cased copies of hostnames written with upper case
	entries [numCats][]indexEntry
	cands   [][]ruleToken // by rule: the tokens it may be indexed by
	bf      badFilters
}

// readList reads the list src, the li-th given to Compile, into the
// matcher, and counts in its ListStats what each line became.
func (cp *compiler) readList(li int, src Source, freq map[uint32]int) {
	m := cp.m
	st := &m.lists[li]
	st.Name, st.Format = src.Name, src.Format
	if st.Format == FormatAuto {
		st.Format = detectFormat(src.Text)
	}
	m.hosts.texts[li] = src.Text
	list := uint16(li)
	st.Lines = lines(src.Text, func(n, off int, line string) {
		trimmed := strings.TrimSpace(line)
		off += strings.Index(line, trimmed)
		if trimmed == "" || trimmed[0] == '!' || trimmed[0] == '#' && st.Format != FormatAdblock ||
			trimmed[0] == '[' && st.Format == FormatAdblock {
			st.Comments++
			return
		}
		if st.Format != FormatAdblock || looksLikeHostsLine(trimmed) {
			m.addHostLine(st, list, &cp.lowered, n, off, trimmed, st.Format == FormatDomains)
			return
		}
		r, err := ParseRule(trimmed)
		switch {
		case err == ErrNotNetwork && isCosmetic(trimmed):
			st.Cosmetic++
		case err == ErrNotNetwork:
			st.Comments++
		case err != nil:
			st.bad(n, trimmed, err)
		default:
			cp.add(parsedRule{r: r, list: list, line: n, off: off}, freq)
		}
	})
}

// add compiles a parsed rule and queues it for its index, with the tokens
// it may be indexed by, counted in freq.
func (cp *compiler) add(p parsedRule, freq map[uint32]int) {
	m := cp.m
	if p.r.BadFilter {
		cp.bf.add(p.r)
		return
	}
	cat, ok := m.categorize(p, &cp.lowered)
	if !ok {
		return
	}
	i := int32(len(m.rules) - 1)
	e := indexEntry{rule: i, off: -1}
	var toks []ruleToken
	if host, ok := hostKey(&m.rules[i]); ok {
		e.host = host
		// A blocking rule that spares navigations ("||host^$~document")
		// is not about the whole host: DNS and CONNECT, which cannot tell
		// a click from a pixel, must let the host through so that its
		// links keep working. Its rest, "^", is then matched.
		if !p.r.Exception && p.r.NotTypes&TypeDocument != 0 {
			m.rules[i].flags &^= fAnyRest
		}
	} else {
		toks = ruleTokens(p.r, &m.rules[i])
		for _, t := range toks {
			freq[t.hash]++
		}
	}
	cp.entries[cat] = append(cp.entries[cat], e)
	// A blocking $redirect= rule is also a $redirect-rule= one (as in
	// uBlock Origin and adblock-rust): its resource answers the request
	// whichever rule, of whichever list, blocks it. Its twin in the
	// redirect index is a copy that shares its options.
	twin := p.r.Redirect != "" && !p.r.RedirectRule && !p.r.Exception
	if twin {
		c := m.rules[i]
		c.next = -1
		m.rules = append(m.rules, c)
		te := e
		te.rule, te.twin = i+1, true
		cp.entries[catRedirect] = append(cp.entries[catRedirect], te)
		for _, t := range toks {
			freq[t.hash]++
		}
	}
	for len(cp.cands) < len(m.rules) {
		cp.cands = append(cp.cands, nil)
	}
	cp.cands[i] = toks
	if twin {
		cp.cands[i+1] = toks
	}
}

const (
	catImportant = iota
	catBlock
	catException
	catDocException
	catRedirect
	catRemoveParam
	catKeepParam
	catNoRedirect
	numCats
)

// categorize turns a parsed rule into a compiled one (appended to m.rules)
// and says which index it belongs to. Option-less hostname rules go to the
// host set instead, and inert rules nowhere; both report ok=false.
func (m *Matcher) categorize(p parsedRule, lowered *strings.Builder) (cat int, ok bool) {
	r, st := p.r, &m.lists[p.list]
	if len(r.Inert) > 0 {
		countInert(st, r)
		return 0, false
	}

	if host, ok := plainHostRule(r); ok {
		m.addHost(st, p.list, lowered, p.off, len(r.Text), 2, host)
		return 0, false
	}

	c := crule{text: r.Text, list: p.list, next: -1, extra: -1, party: r.Party, tokOff: -1}
	var x extra
	hasExtra := false
	if len(r.Domains)+len(r.NotDomains)+len(r.DenyAllow) > 0 {
		x.domains, x.notDomains, x.denyAllow = newDomainList(r.Domains), newDomainList(r.NotDomains), newDomainList(r.DenyAllow)
		hasExtra = true
	}

	c.types = ruleTypes(r)
	if c.types == 0 {
		st.bad(p.line, r.Text, errNoTypes)
		return 0, false
	}

	if compilePattern(r, &c, &x) {
		hasExtra = true
	}

	cat, catExtra := classify(r, st, &c, &x)
	if catExtra {
		hasExtra = true
	}
	if r.Redirect != "" && !r.RedirectRule && !r.Exception {
		x.redirect, _ = redirectResponse(r.Redirect)
		x.hasRedirect = true
		hasExtra = true
	}
	if hasExtra {
		c.extra = int32(len(m.extras))
		m.extras = append(m.extras, x)
	}
	if cat == catRemoveParam && m.addParam(&c, &x) {
		return 0, false
	}
	m.rules = append(m.rules, c)
	return cat, true
}

// countInert counts a rule left inert by options the engine does not apply,
// and those options by name.
func countInert(st *ListStats, r *Rule) {
	st.Inert++
	if st.InertOptions == nil {
		st.InertOptions = make(map[string]int)
	}
	for _, o := range r.Inert {
		name, _, _ := strings.Cut(o, "=")
		st.InertOptions[name]++
	}
}

// ruleTypes is the request types r applies to; 0 when its type options
// exclude every type.
func ruleTypes(r *Rule) Type {
	switch {
	case r.Types != 0:
		return r.Types &^ r.NotTypes
	case r.Exception || r.RemoveParam:
		return typesAll &^ r.NotTypes
	default:
		return typesDefault &^ r.NotTypes
	}
}

// compilePattern sets c's pattern and pattern flags, or for a regular
// expression x's lazily compiled regexp; it reports whether it set x.
func compilePattern(r *Rule, c *crule, x *extra) (hasExtra bool) {
	if r.MatchCase {
		c.flags |= fMatchCase
	}
	if r.Regexp {
		c.flags |= fRegexp
		src := r.Pattern
		if !r.MatchCase {
			src = "(?i)" + src
		}
		x.re = &lazyRegexp{src: src}
		return true
	}
	c.pattern, c.flags = normalizePattern(r, c.flags)
	return false
}

// classify says which index r belongs to and counts it in st: a
// $removeparam rule gets its parameter in x, a $redirect-rule its resource;
// hasExtra reports whether x was set. An exception for documents gets
// fDocument in c.
func classify(r *Rule, st *ListStats, c *crule, x *extra) (cat int, hasExtra bool) {
	switch {
	case r.Exception && r.Redirect != "":
		// @@…$redirect= and @@…$redirect-rule cancel the redirect, not the
		// block: the answer falls back to the one for the request's type.
		st.Exceptions++
		cat = catNoRedirect
	case r.RemoveParam:
		spec := newParamSpec(r.Param)
		x.param = &spec
		hasExtra = true
		st.RemoveParam++
		if r.Exception {
			cat = catKeepParam
		} else {
			cat = catRemoveParam
		}
	case r.RedirectRule:
		x.redirect, _ = redirectResponse(r.Redirect)
		x.hasRedirect = true
		hasExtra = true
		st.Redirect++
		cat = catRedirect
	case r.Exception && r.Types&TypeDocument != 0:
		c.flags |= fDocument
		st.Exceptions++
		cat = catDocException
	case r.Exception:
		st.Exceptions++
		cat = catException
	case r.Important:
		st.Important++
		cat = catImportant
	default:
		st.Blocking++
		cat = catBlock
	}
	return cat, hasExtra
}

// addParam puts a compiled $removeparam rule that names one parameter and
// has no pattern or other option in the parameter table, where the first
// rule for a name stays; it reports whether it did.
func (m *Matcher) addParam(c *crule, x *extra) bool {
	if c.pattern == "" && c.flags&(fRegexp|fAnchorEnd) == 0 &&
		c.party == PartyAny && c.types == typesAll && x.domains.empty() && x.notDomains.empty() && x.denyAllow.empty() &&
		x.param.name != "" && !x.param.invert {
		if _, dup := m.params[x.param.name]; !dup {
			m.rules = append(m.rules, *c)
			m.params[x.param.name] = int32(len(m.rules) - 1)
			return true
		}
	}
	return false
}

type compileError string

func (e compileError) Error() string { return string(e) }

const errNoTypes = compileError("type options exclude every request type")

// plainHostRule recognises "||host^" with no options: the most common rule,
// stored in the compact host set.
func plainHostRule(r *Rule) (string, bool) {
	if r.Exception || !r.AnchorHost || r.AnchorEnd || r.Regexp || r.Types != 0 || r.NotTypes != 0 ||
		r.Party != PartyAny || r.Important || r.MatchCase || r.Redirect != "" || r.RemoveParam ||
		len(r.Domains)+len(r.NotDomains)+len(r.DenyAllow) > 0 {
		return "", false
	}
	host, ok := strings.CutSuffix(r.Pattern, "^")
	// Upper case would need a lower-cased key apart from the rule's text;
	// such rules are rare and go to the rule index instead.
	if !ok || !validHostname(host) && !isIPLiteral(host) || len(r.Text) > 0xffff || lowerHost(host) != host {
		return "", false
	}
	return host, true
}

// normalizePattern lower-cases a pattern (unless match-case) and drops
// wildcards that mean nothing: a leading * cancels a start anchor, a trailing
// * an end anchor.
func normalizePattern(r *Rule, flags ruleFlags) (string, ruleFlags) {
	p := r.Pattern
	if !r.MatchCase {
		p = lowerHost(p)
	}
	start, host, end := r.AnchorStart, r.AnchorHost, r.AnchorEnd
	if strings.HasPrefix(p, "*") {
		start, host = false, false
		p = strings.TrimLeft(p, "*")
	}
	if strings.HasSuffix(p, "*") {
		end = false
		p = strings.TrimRight(p, "*")
	}
	if start {
		flags |= fAnchorStart
	}
	if host {
		flags |= fAnchorHost
	}
	if end {
		flags |= fAnchorEnd
	}
	return p, flags
}
