package resolver

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist"
)

// verdictKind is what the resolver does with a query name.
type verdictKind uint8

const (
	verdictForward verdictKind = iota // answer from the cache or the upstreams
	verdictOwn                        // pixelwall.internal: our own addresses
	verdictSpecial                    // localhost and .invalid (RFC 6761), answered here
	verdictBlock                      // a list blocks the name
)

type verdict struct {
	kind verdictKind
	d    blocklist.Decision // also set on a forward that a pause let through (d.Paused)
	mode BlockMode          // the client's group's block mode; empty: the server's
}

// decide is the one decision on a query name (lower case, with the final
// dot) from client under pol. The UDP fast path and the slow path both
// call it and differ only in how they encode the answer.
func decide(pol *blocklist.Policy, client netip.Addr, name string) verdict {
	switch {
	case name == LocalName:
		return verdict{kind: verdictOwn}
	case isSpecialName(name):
		return verdict{kind: verdictSpecial}
	}
	switch d := pol.DecideHost(name[:len(name)-1], client); {
	case d.Action == blocklist.Block:
		return verdict{kind: verdictBlock, d: d, mode: groupBlockMode(pol, client)}
	case d.Paused:
		return verdict{kind: verdictForward, d: d}
	}
	return verdict{kind: verdictForward}
}

// cloaked finds the first name in resp's CNAME/DNAME chain that m (the
// client's group's lists) blocks by hostname (CNAME uncloaking).
func cloaked(m *blocklist.Matcher, resp *dns.Msg) (target string, d blocklist.Decision, ok bool) {
	for _, rr := range resp.Answer {
		switch v := rr.(type) {
		case *dns.CNAME:
			target = v.Target
		case *dns.DNAME:
			target = v.Target
		default:
			continue
		}
		t := strings.TrimSuffix(strings.ToLower(target), ".")
		if d := m.MatchHost(t); d.Action == blocklist.Block {
			return t, d, true
		}
	}
	return "", blocklist.Decision{}, false
}

// groupBlockMode is the block mode of client's group; empty: the server's.
func groupBlockMode(pol *blocklist.Policy, client netip.Addr) BlockMode {
	return BlockMode(pol.Group(client).Settings.BlockMode)
}

// passedEvent is the event of a forwarded query: "paused" with the rule a
// pause set aside, else "passed".
func passedEvent(v verdict, e Event) Event {
	e.Kind = "passed"
	if v.d.Paused {
		e.Kind, e.Rule, e.List = "paused", v.d.Rule, v.d.List
	}
	return e
}
