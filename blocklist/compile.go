package blocklist

import (
	"hash/maphash"
	"regexp/syntax"
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
	var lowered strings.Builder // lower-cased copies of hostnames written with upper case

	// Rules are compiled as they are parsed, so that no parsed Rule outlives
	// its line: a reload then needs little more memory than the matcher it
	// builds. $badfilter rules are collected and applied at the end.
	var entries [numCats][]indexEntry
	var cands [][]ruleToken
	freq := make(map[uint32]int)
	var bf badFilters
	compile := func(p parsedRule) {
		if p.r.BadFilter {
			bf.add(p.r)
			return
		}
		cat, ok := m.categorize(p, &lowered)
		if !ok {
			return
		}
		i := int32(len(m.rules) - 1)
		e := indexEntry{rule: i, off: -1}
		var toks []ruleToken
		if host, ok := hostKey(&m.rules[i]); ok {
			e.host = host
			// A blocking rule that spares navigations ("||host^$~document")
			// is not about the whole host: DNS and CONNECT, which cannot
			// tell a click from a pixel, must let the host through so that
			// its links keep working. Its rest, "^", is then matched.
			if !p.r.Exception && p.r.NotTypes&TypeDocument != 0 {
				m.rules[i].flags &^= fAnyRest
			}
		} else {
			toks = ruleTokens(p.r, &m.rules[i])
			for _, t := range toks {
				freq[t.hash]++
			}
		}
		entries[cat] = append(entries[cat], e)
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
			entries[catRedirect] = append(entries[catRedirect], te)
			for _, t := range toks {
				freq[t.hash]++
			}
		}
		for len(cands) < len(m.rules) {
			cands = append(cands, nil)
		}
		cands[i] = toks
		if twin {
			cands[i+1] = toks
		}
	}

	for li, src := range srcs {
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
				m.addHostLine(st, list, &lowered, n, off, trimmed, st.Format == FormatDomains)
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
				compile(parsedRule{r: r, list: list, line: n, off: off})
			}
		})
	}
	if len(bf.twins) > 0 {
		m.applyBadFilters(&bf, &entries)
	}

	// Index each rule by its rarest token, so that a URL's tokens bring up
	// few candidates. Tokens found in most URLs count as common whatever
	// the rules say.
	for t := range urlCommonTokens {
		freq[tokenHash(t)] += 1 << 20
	}
	for cat := range entries {
		for k := range entries[cat] {
			e := &entries[cat][k]
			best := -1
			for _, t := range cands[e.rule] {
				if best < 0 || freq[t.hash] < best {
					best, e.token, e.off = freq[t.hash], t.hash, t.off
				}
			}
		}
	}
	for cat, ix := range []*ruleIndex{&m.important, &m.block, &m.exception, &m.docException, &m.redirect, &m.removeParam, &m.keepParam, &m.noRedirect} {
		*ix = buildIndex(cat, m.rules, entries[cat], m.hostRules)
	}

	m.hosts.texts[len(srcs)] = lowered.String()
	m.hosts.build(func(list uint16) { m.lists[list].Duplicates++ })
	nb := 64
	for nb < len(m.hostRules)*8 {
		nb <<= 1
	}
	m.hostBits, m.hostBitsMask = make([]uint64, nb/64), uint32(nb-1)
	for host := range m.hostRules {
		b := uint32(maphash.String(m.hosts.seed, host)) & m.hostBitsMask
		m.hostBits[b>>6] |= 1 << (b & 63)
	}
	m.rules = m.rules[:len(m.rules):len(m.rules)]
	return m
}

// urlCommonTokens are tokens most URLs contain: a rule indexed by one would
// be a candidate for nearly every request.
var urlCommonTokens = map[string]bool{
	"http": true, "https": true, "www": true, "com": true, "net": true, "org": true, "js": true,
	"css": true, "html": true, "htm": true, "php": true, "jpg": true, "jpeg": true, "png": true,
	"gif": true, "svg": true, "webp": true, "json": true, "cdn": true, "static": true, "assets": true,
	"images": true, "img": true, "api": true, "v1": true, "v2": true, "min": true, "de": true,
	"co": true, "uk": true, "io": true, "ru": true, "fr": true, "jp": true, "id": true, "wp": true,
	"content": true, "uploads": true, "media": true, "2f": true, "3a": true, "3d": true, "26": true,
	"20": true, "2c": true, "index": true, "amp": true, "true": true, "false": true, "null": true,
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

// badFilters collects $badfilter rules: the canonical text of each twin they
// cancel, the twins' raw patterns (only rules with one of those are looked
// at again), and the hostnames of plain "||host^" twins.
type badFilters struct {
	twins    map[string]bool
	patterns map[string]bool
	hosts    map[string]bool
}

func (bf *badFilters) add(r *Rule) {
	if bf.twins == nil {
		bf.twins, bf.patterns, bf.hosts = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	twin := *r
	twin.BadFilter = false
	bf.twins[twin.String()] = true
	bf.patterns[twin.Pattern] = true
	if host, ok := plainHostRule(&twin); ok {
		bf.hosts[host] = true // also cancels host from hosts and domain lists
	}
}

// cancels reports whether a compiled rule's text is a cancelled twin.
func (bf *badFilters) cancels(text string) bool {
	if !bf.patterns[rawPattern(text)] {
		return false
	}
	r, err := ParseRule(text)
	return err == nil && bf.twins[r.String()]
}

// rawPattern is the pattern of a rule's text as ParseRule reads it, cheaply.
func rawPattern(text string) string {
	s := strings.TrimPrefix(text, "@@")
	if i := optionsStart(s); i >= 0 {
		s = s[:i]
	}
	if len(s) >= 3 && s[0] == '/' && s[len(s)-1] == '/' {
		return s[1 : len(s)-1]
	}
	if t, ok := strings.CutPrefix(s, "||"); ok {
		s = t
	} else {
		s = strings.TrimPrefix(s, "|")
	}
	return strings.TrimSuffix(s, "|")
}

// applyBadFilters drops the rules $badfilter rules name, from every index,
// the parameter table and the host set, and fixes the counts.
func (m *Matcher) applyBadFilters(bf *badFilters, entries *[numCats][]indexEntry) {
	for cat := range entries {
		kept := entries[cat][:0]
		for _, e := range entries[cat] {
			r := &m.rules[e.rule]
			if !bf.cancels(r.text) {
				kept = append(kept, e)
				continue
			}
			if e.twin {
				continue // counted with the rule it copies
			}
			st := &m.lists[r.list]
			st.BadFiltered++
			switch cat {
			case catBlock:
				st.Blocking--
			case catImportant:
				st.Important--
			case catRedirect:
				st.Redirect--
			case catRemoveParam, catKeepParam:
				st.RemoveParam--
			default:
				st.Exceptions--
			}
		}
		entries[cat] = kept
	}
	for name, i := range m.params {
		if r := &m.rules[i]; bf.cancels(r.text) {
			delete(m.params, name)
			m.lists[r.list].BadFiltered++
			m.lists[r.list].RemoveParam--
		}
	}
	if len(bf.hosts) > 0 {
		kept := m.hosts.entries[:0]
		for _, e := range m.hosts.entries {
			if bf.hosts[m.hosts.key(&e)] || bf.cancels(m.hosts.ruleText(&e)) {
				m.lists[e.list].BadFiltered++
				m.lists[e.list].Hostnames--
				continue
			}
			kept = append(kept, e)
		}
		m.hosts.entries = kept
	}
}

// categorize turns a parsed rule into a compiled one (appended to m.rules)
// and says which index it belongs to. Option-less hostname rules go to the
// host set instead, and inert rules nowhere; both report ok=false.
func (m *Matcher) categorize(p parsedRule, lowered *strings.Builder) (cat int, ok bool) {
	r, st := p.r, &m.lists[p.list]
	if len(r.Inert) > 0 {
		st.Inert++
		if st.InertOptions == nil {
			st.InertOptions = make(map[string]int)
		}
		for _, o := range r.Inert {
			name, _, _ := strings.Cut(o, "=")
			st.InertOptions[name]++
		}
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

	switch {
	case r.Types != 0:
		c.types = r.Types &^ r.NotTypes
	case r.Exception || r.RemoveParam:
		c.types = typesAll &^ r.NotTypes
	default:
		c.types = typesDefault &^ r.NotTypes
	}
	if c.types == 0 {
		st.bad(p.line, r.Text, errNoTypes)
		return 0, false
	}

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
		hasExtra = true
	} else {
		c.pattern, c.flags = normalizePattern(r, c.flags)
	}

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
	if r.Redirect != "" && !r.RedirectRule && !r.Exception {
		x.redirect, _ = redirectResponse(r.Redirect)
		x.hasRedirect = true
		hasExtra = true
	}
	if hasExtra {
		c.extra = int32(len(m.extras))
		m.extras = append(m.extras, x)
	}
	if cat == catRemoveParam && c.pattern == "" && c.flags&(fRegexp|fAnchorEnd) == 0 &&
		c.party == PartyAny && c.types == typesAll && x.domains.empty() && x.notDomains.empty() && x.denyAllow.empty() &&
		x.param.name != "" && !x.param.invert {
		if _, dup := m.params[x.param.name]; !dup {
			m.rules = append(m.rules, c)
			m.params[x.param.name] = int32(len(m.rules) - 1)
			return 0, false
		}
	}
	m.rules = append(m.rules, c)
	return cat, true
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

// hostKey finds, for a ||host^… or ||host/… rule, the full hostname to index
// it by, and rewrites the rule to match what follows the host.
func hostKey(c *crule) (string, bool) {
	if c.flags&fAnchorHost == 0 {
		return "", false
	}
	p := c.pattern
	k := 0
	if strings.HasPrefix(p, "[") { // ||[2001:db8::1]^: an IPv6 literal, keyed without brackets
		k = strings.IndexByte(p, ']')
		if k < 2 || k+1 < len(p) && p[k+1] != '^' && p[k+1] != '/' && p[k+1] != ':' {
			return "", false
		}
		host := p[1:k]
		c.pattern = p[k+1:]
		c.flags = c.flags&^fAnchorHost | fHostKey
		if c.pattern == "^" && c.flags&fAnchorEnd == 0 {
			c.flags |= fAnyRest
		}
		return host, true
	}
	for k < len(p) && (isAlnum(lowerASCII(p[k])) || p[k] == '.' || p[k] == '-' || p[k] == '_') {
		k++
	}
	if k == 0 || p[0] == '.' || p[k-1] == '.' {
		return "", false
	}
	if k == len(p) {
		if c.flags&fAnchorEnd == 0 {
			return "", false // "||ads" also matches adserver.com
		}
	} else if p[k] != '^' && p[k] != '/' && p[k] != ':' {
		return "", false
	}
	host := lowerHost(p[:k])
	c.pattern = p[k:]
	c.flags = c.flags&^fAnchorHost | fHostKey
	if c.pattern == "^" && c.flags&fAnchorEnd == 0 {
		c.flags |= fAnyRest
	}
	return host, true
}

// ruleToken is a token a rule can be indexed by: its hash and its offset in
// the pattern, or -1 when a * comes before it.
type ruleToken struct {
	hash uint32
	off  int
}

// ruleTokens returns the tokens a URL must contain, as whole runs of
// [a-z0-9], for the rule to match: runs of the pattern bounded on both sides
// by something other than a wildcard.
func ruleTokens(r *Rule, c *crule) []ruleToken {
	if c.flags&fRegexp != 0 {
		var toks []ruleToken
		for _, h := range regexTokens(r.Pattern, !r.MatchCase) {
			toks = append(toks, ruleToken{h, -1})
		}
		return toks
	}
	p := c.pattern
	star := strings.IndexByte(p, '*')
	var toks []ruleToken
	for i := 0; i < len(p); {
		if !isAlnum(lowerASCII(p[i])) {
			i++
			continue
		}
		j := i
		for j < len(p) && isAlnum(lowerASCII(p[j])) {
			j++
		}
		leftOK := i > 0 && p[i-1] != '*' || i == 0 && c.flags&(fAnchorStart|fAnchorHost) != 0
		rightOK := j < len(p) && p[j] != '*' || j == len(p) && c.flags&fAnchorEnd != 0
		if leftOK && rightOK && j-i > 1 {
			off := i
			if star >= 0 && star < i {
				off = -1
			}
			toks = append(toks, ruleToken{tokenHash(lowerHost(p[i:j])), off})
		}
		i = j
	}
	return toks
}

// regexTokens finds tokens in the literal parts that every match of a regex
// must contain.
func regexTokens(src string, fold bool) []uint32 {
	flags := syntax.Perl
	if fold {
		flags |= syntax.FoldCase
	}
	re, err := syntax.Parse(src, flags)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	var lits []string
	switch re.Op {
	case syntax.OpLiteral:
		lits = append(lits, string(re.Rune))
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpLiteral {
				lits = append(lits, string(sub.Rune))
			}
		}
	}
	var toks []uint32
	for _, lit := range lits {
		lit = lowerHost(lit)
		// Only runs with a non-alphanumeric character on both sides inside
		// the literal are whole tokens: the regex around it may add more.
		for i := 0; i < len(lit); {
			if isAlnum(lit[i]) {
				i++
				continue
			}
			j := i + 1
			for j < len(lit) && isAlnum(lit[j]) {
				j++
			}
			if j < len(lit) && j-i-1 > 1 {
				toks = append(toks, tokenHash(lit[i+1:j]))
			}
			i = j
		}
	}
	return toks
}

// looksLikeHostsLine accepts hosts-file lines inside Adblock lists, as
// uBlock Origin does.
func looksLikeHostsLine(line string) bool {
	if line[0] != '0' && line[0] != '1' && line[0] != ':' {
		return false
	}
	sp := strings.IndexAny(line, " \t")
	return sp > 0 && isHostsAddr(line[:sp])
}

// addHostLine reads a hosts-file or domain-list line.
func (m *Matcher) addHostLine(st *ListStats, list uint16, lowered *strings.Builder, n, off int, line string, domains bool) {
	body := line
	if i := strings.IndexByte(body, '#'); i >= 0 {
		body = body[:i]
	}
	fields := body
	next := func() (string, int) {
		fields = strings.TrimLeft(fields, " \t")
		if fields == "" {
			return "", 0
		}
		at := len(body) - len(fields)
		end := strings.IndexAny(fields, " \t")
		if end < 0 {
			end = len(fields)
		}
		f := fields[:end]
		fields = fields[end:]
		return f, at
	}
	if !domains {
		addr, _ := next()
		if !isHostsAddr(addr) {
			st.bad(n, line, errHostsAddr)
			return
		}
	}
	count := 0
	for {
		name, at := next()
		if name == "" {
			break
		}
		if domains && count > 0 {
			st.bad(n, line, errDomainsExtra)
			return
		}
		count++
		kskip, klen := 0, len(name)
		switch {
		case strings.HasPrefix(name, "||") && strings.HasSuffix(name, "^"):
			kskip, klen = 2, len(name)-3 // AdGuard Home style in a domain list
		case strings.HasPrefix(name, "*."):
			kskip, klen = 2, len(name)-2 // wildcard: we match subdomains anyway
		}
		host := name[kskip : kskip+klen]
		if hostsIgnored[strings.ToLower(host)] {
			continue
		}
		if !validHostname(host) && !isIPLiteral(host) {
			st.bad(n, line, errHostname)
			return
		}
		m.addHost(st, list, lowered, off+at, len(name), kskip, host)
	}
	if count == 0 {
		st.bad(n, line, errNoName)
	}
}

const (
	errHostsAddr    = compileError("hosts line does not start with an IP address")
	errDomainsExtra = compileError("more than one domain on a line")
	errHostname     = compileError("not a valid hostname")
	errNoName       = compileError("no hostname")
)

// addHost stores a hostname rule whose text is text[off:off+tlen] in the
// list's own text, with the hostname kskip bytes in.
func (m *Matcher) addHost(st *ListStats, list uint16, lowered *strings.Builder, off, tlen, kskip int, host string) {
	st.Hostnames++
	e := hostEntry{off: uint32(off), tlen: uint16(tlen), text: list, list: list, kskip: uint8(kskip), klen: uint8(len(host))}
	if strings.HasSuffix(host, ".") || lowerHost(host) != host {
		lh := strings.TrimSuffix(lowerHost(host), ".")
		e = hostEntry{off: uint32(lowered.Len()), tlen: uint16(len(lh)), text: uint16(len(m.hosts.texts) - 1), list: list, klen: uint8(len(lh))}
		lowered.WriteString(lh)
	}
	m.hosts.entries = append(m.hosts.entries, e)
}
