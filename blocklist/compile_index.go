package blocklist

import (
	"hash/maphash"
	"regexp/syntax"
	"strings"
)

// buildIndexes indexes each rule by its rarest token (freq counts the rules
// that have each), so that a URL's tokens bring up few candidates. Tokens
// found in most URLs count as common whatever the rules say.
func (cp *compiler) buildIndexes(freq map[uint32]int) {
	m, entries := cp.m, &cp.entries
	for t := range urlCommonTokens {
		freq[tokenHash(t)] += 1 << 20
	}
	for cat := range entries {
		for k := range entries[cat] {
			e := &entries[cat][k]
			best := -1
			for _, t := range cp.cands[e.rule] {
				if best < 0 || freq[t.hash] < best {
					best, e.token, e.off = freq[t.hash], t.hash, t.off
				}
			}
		}
	}
	for cat, ix := range []*ruleIndex{&m.important, &m.block, &m.exception, &m.docException, &m.redirect, &m.removeParam, &m.keepParam, &m.noRedirect} {
		*ix = buildIndex(cat, m.rules, entries[cat], m.hostRules)
	}
}

// buildHostBits fills the Bloom filter of hostRules' keys.
func (m *Matcher) buildHostBits() {
	nb := 64
	for nb < len(m.hostRules)*8 {
		nb <<= 1
	}
	m.hostBits, m.hostBitsMask = make([]uint64, nb/64), uint32(nb-1)
	for host := range m.hostRules {
		b := uint32(maphash.String(m.hosts.seed, host)) & m.hostBitsMask
		m.hostBits[b>>6] |= 1 << (b & 63)
	}
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
