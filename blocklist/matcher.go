package blocklist

// Match decides on one request. Precedence: an $important rule blocks even
// over exceptions; otherwise an exception (@@), including a page-level
// @@…$document one for the request's page, overrides a blocking rule. It
// does not allocate unless a rule matches and a page-level exception has to
// be checked. req is only read.
func (m *Matcher) Match(req *Request) Decision {
	var hits hostHits
	e := m.findHostHits(req.Host, &hits)
	if i := m.important.first(m, req, &hits); i >= 0 {
		return m.blockDecision(i, req, &hits, true)
	}
	blk := int32(-1)
	var hostRule string
	var hostList uint16
	if e >= 0 {
		ent := &m.hosts.entries[e]
		hostRule, hostList = m.hosts.ruleText(ent), ent.list
	} else if blk = m.block.first(m, req, &hits); blk < 0 {
		return Decision{}
	}
	if i := m.exception.first(m, req, &hits); i >= 0 {
		return m.decision(Allow, i)
	}
	// @@…$document rules: for a document, the page is the request itself.
	if req.Type == TypeDocument {
		if i := m.docException.first(m, req, &hits); i >= 0 {
			return m.decision(Allow, i)
		}
	}
	if i := m.pageException(req); i >= 0 {
		return m.decision(Allow, i)
	}
	if blk < 0 {
		return Decision{Action: Block, Rule: hostRule, List: m.lists[hostList].Name, Response: m.response(-1, req, &hits)}
	}
	return m.blockDecision(blk, req, &hits, false)
}

func (m *Matcher) decision(a Action, i int32) Decision {
	r := &m.rules[i]
	return Decision{Action: a, Rule: r.text, List: m.lists[r.list].Name}
}

func (m *Matcher) blockDecision(i int32, req *Request, hits *hostHits, important bool) Decision {
	d := m.decision(Block, i)
	d.Important = important
	d.Response = m.response(i, req, hits)
	return d
}

// response picks the answer for a blocked request: the blocking rule's own
// $redirect, else a matching $redirect-rule, else what suits the type.
func (m *Matcher) response(blk int32, req *Request, hits *hostHits) Response {
	redirect := ResponseNone
	if blk >= 0 {
		if x := m.rules[blk].extra; x >= 0 && m.extras[x].hasRedirect {
			redirect = m.extras[x].redirect
		}
	}
	if redirect == ResponseNone {
		if i := m.redirect.first(m, req, hits); i >= 0 {
			redirect = m.extras[m.rules[i].extra].redirect
		}
	}
	if redirect != ResponseNone && m.noRedirect.first(m, req, hits) < 0 {
		return redirect
	}
	return ResponseFor(req.Type)
}

// pageException finds a @@…$document rule matching the page that made req.
func (m *Matcher) pageException(req *Request) int32 {
	if m.docException.size == 0 || req.SourceHost == "" || !m.docException.mayMatchHost(m, req.SourceHost) {
		return -1
	}
	page, err := NewRequest(req.SourceURL, "", TypeDocument)
	if err != nil {
		return -1
	}
	page.SourceHost, page.ThirdParty = page.Host, false
	var hits hostHits
	m.findHostHits(page.Host, &hits)
	return m.docException.first(m, page, &hits)
}

// MatchHost decides on a bare hostname, as a DNS query or a CONNECT request
// shows it: only rules about whole hosts apply (hosts and domain lists,
// ||host^ rules whose options do not depend on the page or type, and their
// @@ exceptions).
func (m *Matcher) MatchHost(host string) Decision {
	host = lowerHost(host)
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	if i := m.wholeHostRule(&m.important, host); i >= 0 {
		d := m.decision(Block, i)
		d.Important = true
		return d
	}
	blk := int32(-1)
	e := m.hosts.match(host)
	if e < 0 {
		if blk = m.wholeHostRule(&m.block, host); blk < 0 {
			return Decision{}
		}
	}
	if i := m.wholeHostRule(&m.exception, host); i >= 0 {
		return m.decision(Allow, i)
	}
	if i := m.wholeHostRule(&m.docException, host); i >= 0 {
		return m.decision(Allow, i)
	}
	if blk >= 0 {
		return m.decision(Block, blk)
	}
	ent := &m.hosts.entries[e]
	return Decision{Action: Block, Rule: m.hosts.ruleText(ent), List: m.lists[ent.list].Name}
}

// wholeHostRule finds a "||host^" rule under host or a parent domain that
// applies to every request to it.
func (m *Matcher) wholeHostRule(ix *ruleIndex, host string) int32 {
	if ix.nhost == 0 {
		return -1
	}
	for {
		if hh, ok := m.hostRules[host]; ok {
			for i := hh[ix.cat]; i >= 0; i = m.rules[i].next {
				r := &m.rules[i]
				if r.flags&fAnyRest != 0 && r.party == PartyAny && r.extra < 0 && r.types&typesDefault == typesDefault {
					return i
				}
			}
		}
		dot := indexDot(host)
		if dot < 0 {
			return -1
		}
		host = host[dot+1:]
	}
}
