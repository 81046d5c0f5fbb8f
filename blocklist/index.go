package blocklist

import (
	"hash/maphash"
	"regexp"
	"strings"
	"sync/atomic"

	"golang.org/x/net/publicsuffix"
)

// crule is the compiled form of a Rule, kept small: a Matcher holds about a
// hundred thousand of them.
type crule struct {
	text    string // the rule as written, for decisions
	pattern string // lower-cased unless match-case; for host-keyed rules, what follows the host
	next    int32  // next rule in the same index chain, -1 at the end
	extra   int32  // index into Matcher.extras, -1 when none
	list    uint16
	types   Type
	flags   ruleFlags
	party   Party
	// tokOff is where the rule's index token starts in pattern, when no *
	// comes before it: a URL token at position p then pins the match to
	// start at p-tokOff, instead of searching the URL. -1 otherwise.
	tokOff int16
}

type ruleFlags uint8

const (
	fAnchorStart ruleFlags = 1 << iota
	fAnchorHost
	fAnchorEnd
	fMatchCase
	fRegexp
	fHostKey  // indexed by hostname: pattern is matched from the end of the host
	fAnyRest  // host-keyed and nothing left to match ("||host^")
	fDocument // an exception that also disables blocking on the pages it matches
)

// extra holds the options few rules have.
type extra struct {
	domains, notDomains domainList
	denyAllow           domainList
	re                  *lazyRegexp
	redirect            Response
	hasRedirect         bool
	param               *paramSpec
}

// lazyRegexp compiles on first use: most regex rules never get a candidate
// URL, and a compiled regexp costs kilobytes.
type lazyRegexp struct {
	src string
	re  atomic.Pointer[regexp.Regexp]
}

var neverMatch = regexp.MustCompile(`\z.\A`)

func (l *lazyRegexp) get() *regexp.Regexp {
	if re := l.re.Load(); re != nil {
		return re
	}
	re, err := regexp.Compile(l.src)
	if err != nil {
		re = neverMatch // validated when parsed; cannot happen
	}
	l.re.Store(re)
	return re
}

// ruleIndex finds the candidate rules of one category for a request: rules
// keyed by a hostname are found through the Matcher's shared host table
// (one walk up the request host's parent domains serves every category);
// the rest by the tokens of the URL; the few with neither are always
// candidates.
type ruleIndex struct {
	cat      int // column in hostHeads
	tokens   tokenTable
	fallback int32
	size     int // rules in the index
	nhost    int // rules keyed by a hostname
	ntok     int // rules keyed by a token
}

// hostHeads are the chain heads, one per category, of the rules keyed by one
// hostname; -1 where there are none.
type hostHeads [numCats]int32

// hostHits are the hostHeads found for a host and its parent domains, most
// specific first.
type hostHits struct {
	n    int
	h    [8]*hostHeads
	more []*hostHeads // hosts deeper than 8 labels with rules at each
}

// findHostHits walks host and its parent domains once, hashing each once:
// it fills hits from the rule host table (behind a Bloom filter, as most
// names have no rules) and returns the most specific host-set entry, or -1.
func (m *Matcher) findHostHits(host string, hits *hostHits) int {
	hits.n, hits.more = 0, hits.more[:0]
	entry := -1
	if len(m.hostRules) == 0 && len(m.hosts.entries) == 0 {
		return entry
	}
	for {
		h := uint32(maphash.String(m.hosts.seed, host))
		if entry < 0 && len(m.hosts.entries) > 0 {
			entry = m.hosts.findHashed(host, h)
		}
		b := h & m.hostBitsMask
		if m.hostBits[b>>6]&(1<<(b&63)) == 0 {
			// no rules for this name
		} else if hh, ok := m.hostRules[host]; ok {
			if hits.n < len(hits.h) {
				hits.h[hits.n] = hh
				hits.n++
			} else {
				hits.more = append(hits.more, hh)
			}
		}
		dot := indexDot(host)
		if dot < 0 {
			return entry
		}
		host = host[dot+1:]
	}
}

// tokenTable is an open-addressing hash table from token hash to chain head;
// faster than a Go map for uint32 keys and allocation-free.
type tokenTable struct {
	keys  []uint32
	heads []int32
	mask  uint32
	// bits is a one-hash Bloom filter of the keys, eight bits a key: most URL
	// tokens are in no rule and cost one bit test instead of a probe.
	bits    []uint64
	bitMask uint32
}

func (t *tokenTable) get(h uint32) int32 {
	if len(t.keys) == 0 {
		return -1
	}
	if b := (h >> 7) & t.bitMask; t.bits[b>>6]&(1<<(b&63)) == 0 {
		return -1
	}
	for j := h & t.mask; ; j = (j + 1) & t.mask {
		switch t.keys[j] {
		case h:
			return t.heads[j]
		case 0:
			return -1
		}
	}
}

// slot returns the slot for h, claiming an empty one.
func (t *tokenTable) slot(h uint32) *int32 {
	for j := h & t.mask; ; j = (j + 1) & t.mask {
		switch t.keys[j] {
		case h:
			return &t.heads[j]
		case 0:
			t.keys[j] = h
			t.heads[j] = -1
			return &t.heads[j]
		}
	}
}

// indexEntry is where a rule goes in a ruleIndex: under a host, a token, or
// neither.
type indexEntry struct {
	rule  int32
	host  string
	token uint32
	off   int  // token offset in the pattern, or -1
	twin  bool // a $redirect= rule's copy in the redirect index
}

func buildIndex(cat int, rules []crule, entries []indexEntry, hostRules map[string]*hostHeads) ruleIndex {
	ix := ruleIndex{cat: cat, fallback: -1, size: len(entries)}
	ntok := 0
	for _, e := range entries {
		if e.host == "" && e.token != 0 {
			ntok++
		}
	}
	ix.ntok = ntok
	if ntok > 0 {
		n := 8
		for n < ntok*2 {
			n <<= 1
		}
		nb := 64
		for nb < ntok*8 {
			nb <<= 1
		}
		ix.tokens = tokenTable{keys: make([]uint32, n), heads: make([]int32, n), mask: uint32(n - 1),
			bits: make([]uint64, nb/64), bitMask: uint32(nb - 1)}
	}
	// Insert in reverse so that chains run in list order.
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		var head *int32
		switch {
		case e.host != "":
			hh := hostRules[e.host]
			if hh == nil {
				hh = new(hostHeads)
				for c := range hh {
					hh[c] = -1
				}
				hostRules[e.host] = hh
			}
			head = &hh[cat]
			ix.nhost++
		case e.token != 0:
			head = ix.tokens.slot(e.token)
			b := (e.token >> 7) & ix.tokens.bitMask
			ix.tokens.bits[b>>6] |= 1 << (b & 63)
			if e.off >= 0 && e.off <= 1<<15-1 {
				rules[e.rule].tokOff = int16(e.off)
			}
		default:
			head = &ix.fallback
		}
		rules[e.rule].next = *head
		*head = e.rule
	}
	return ix
}

// first returns the first rule of the index that matches req, or -1. hits
// are the host table's entries for req.Host.
func (ix *ruleIndex) first(m *Matcher, req *Request, hits *hostHits) int32 {
	if ix.size == 0 {
		return -1
	}
	if ix.nhost > 0 {
		for k := range hits.n + len(hits.more) {
			hh := hits.at(k)
			if head := hh[ix.cat]; head >= 0 {
				if i := m.firstInChain(head, req, -1); i >= 0 {
					return i
				}
			}
		}
	}
	for _, tok := range req.tokens {
		if head := ix.tokens.get(tok.hash); head >= 0 {
			if i := m.firstInChain(head, req, int(tok.pos)); i >= 0 {
				return i
			}
		}
	}
	return m.firstInChain(ix.fallback, req, -1)
}

// all appends every rule of the index that matches req; a rule may appear
// twice when a URL repeats a token.
func (ix *ruleIndex) all(m *Matcher, req *Request, hits *hostHits, dst []int32) []int32 {
	if ix.size == 0 {
		return dst
	}
	add := func(head int32, pos int) {
		for i := head; i >= 0; i = m.rules[i].next {
			if m.matches(&m.rules[i], req, pos) {
				dst = append(dst, i)
			}
		}
	}
	if ix.nhost > 0 {
		for k := range hits.n + len(hits.more) {
			if head := hits.at(k)[ix.cat]; head >= 0 {
				add(head, -1)
			}
		}
	}
	for _, tok := range req.tokens {
		if head := ix.tokens.get(tok.hash); head >= 0 {
			add(head, int(tok.pos))
		}
	}
	add(ix.fallback, -1)
	return dst
}

// firstInChain returns the first rule of a chain that matches; pos is the
// position of the URL token that led to the chain, or -1.
func (m *Matcher) firstInChain(head int32, req *Request, pos int) int32 {
	for i := head; i >= 0; i = m.rules[i].next {
		if m.matches(&m.rules[i], req, pos) {
			return i
		}
	}
	return -1
}

// matches checks one rule against a request: cheap checks first.
func (m *Matcher) matches(r *crule, req *Request, pos int) bool {
	if r.types&req.Type == 0 {
		return false
	}
	switch r.party {
	case PartyFirst:
		if req.ThirdParty {
			return false
		}
	case PartyThird:
		if !req.ThirdParty {
			return false
		}
	case PartyStrictFirst:
		if req.SourceHost != req.Host {
			return false
		}
	case PartyStrictThird:
		if req.SourceHost == req.Host {
			return false
		}
	}
	if r.extra < 0 {
		return m.patternMatches(r, req, pos)
	}
	// A pattern pinned by its token usually fails at its first byte, which is
	// cheaper than a $domain= list; otherwise the options go first, since a
	// search or a regex costs more and most regex rules are for a few sites.
	if pos >= 0 && r.tokOff >= 0 && r.flags&fRegexp == 0 {
		return m.patternMatches(r, req, pos) && m.extraMatches(&m.extras[r.extra], req)
	}
	return m.extraMatches(&m.extras[r.extra], req) && m.patternMatches(r, req, pos)
}

func (m *Matcher) patternMatches(r *crule, req *Request, pos int) bool {
	if r.flags&fAnyRest != 0 {
		return true
	}
	u := req.lower
	if r.flags&fMatchCase != 0 {
		u = req.orig
	}
	switch {
	case r.flags&fRegexp != 0:
		return m.extras[r.extra].re.get().Match(u)
	case r.flags&fHostKey != 0:
		return globAt(u, req.hostEnd, r.pattern, true, r.flags&fAnchorEnd != 0)
	case r.flags&fAnchorStart != 0:
		return globAt(u, 0, r.pattern, true, r.flags&fAnchorEnd != 0)
	case r.flags&fAnchorHost != 0:
		if pos >= 0 && r.tokOff >= 0 {
			p := pos - int(r.tokOff)
			return p >= req.hostStart && p < req.hostEnd && (p == req.hostStart || u[p-1] == '.') &&
				globAt(u, p, r.pattern, true, r.flags&fAnchorEnd != 0)
		}
		for p := req.hostStart; p < req.hostEnd; p++ {
			if (p == req.hostStart || u[p-1] == '.') && globAt(u, p, r.pattern, true, r.flags&fAnchorEnd != 0) {
				return true
			}
		}
		return false
	case pos >= 0 && r.tokOff >= 0:
		p := pos - int(r.tokOff)
		return p >= 0 && globAt(u, p, r.pattern, true, r.flags&fAnchorEnd != 0)
	}
	return globAt(u, 0, r.pattern, false, r.flags&fAnchorEnd != 0)
}

func (m *Matcher) extraMatches(x *extra, req *Request) bool {
	if !x.notDomains.empty() && req.SourceHost != "" && x.notDomains.match(req.SourceHost) {
		return false
	}
	if !x.domains.empty() && (req.SourceHost == "" || !x.domains.match(req.SourceHost)) {
		return false
	}
	if !x.denyAllow.empty() && x.denyAllow.match(req.Host) {
		return false
	}
	return true
}

// domainList is the value of $domain= (one polarity) or $denyallow=: a
// slice when short, a set walked by parent domain when long (some rules
// name hundreds of sites).
type domainList struct {
	list     []string
	set      map[string]struct{}
	entities []string // "name.*" entries of a long list
}

const domainSetMin = 8

func newDomainList(ds []string) domainList {
	if len(ds) < domainSetMin {
		return domainList{list: ds}
	}
	l := domainList{set: make(map[string]struct{}, len(ds))}
	for _, d := range ds {
		if strings.HasSuffix(d, ".*") {
			l.entities = append(l.entities, d)
		} else {
			l.set[d] = struct{}{}
		}
	}
	return l
}

func (l *domainList) empty() bool { return len(l.list) == 0 && l.set == nil }

func (l *domainList) match(host string) bool {
	if l.set == nil {
		return domainListMatch(host, l.list)
	}
	for h := host; ; {
		if _, ok := l.set[h]; ok {
			return true
		}
		dot := indexDot(h)
		if dot < 0 {
			break
		}
		h = h[dot+1:]
	}
	return len(l.entities) > 0 && domainListMatch(host, l.entities)
}

// domainListMatch reports whether host is, or is under, one of the domains.
// "name.*" entries match name under any public suffix (google.* matches
// www.google.co.uk).
func domainListMatch(host string, domains []string) bool {
	for _, d := range domains {
		if n := len(d); n > 2 && d[n-2:] == ".*" {
			ps, _ := publicsuffix.PublicSuffix(host)
			if len(host) > len(ps)+1 && underDomain(host[:len(host)-len(ps)-1], d[:n-2]) {
				return true
			}
			continue
		}
		if underDomain(host, d) {
			return true
		}
	}
	return false
}

// underDomain reports whether host is d or a subdomain of d.
func underDomain(host, d string) bool {
	if len(host) == len(d) {
		return host == d
	}
	return len(host) > len(d) && host[len(host)-len(d)-1] == '.' && host[len(host)-len(d):] == d
}

func (h *hostHits) at(k int) *hostHeads {
	if k < h.n {
		return h.h[k]
	}
	return h.more[k-h.n]
}

// mayMatchHost is a cheap pre-check: false when the index holds only
// host-keyed rules and none is keyed by host or a parent domain.
func (ix *ruleIndex) mayMatchHost(m *Matcher, host string) bool {
	if ix.fallback >= 0 || ix.ntok > 0 {
		return true
	}
	for {
		if hh, ok := m.hostRules[host]; ok && hh[ix.cat] >= 0 {
			return true
		}
		dot := indexDot(host)
		if dot < 0 {
			return false
		}
		host = host[dot+1:]
	}
}
