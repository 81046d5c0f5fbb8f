package blocklist

import (
	"net/netip"
	"strings"
	"time"
)

// Policy is what is blocked right now: the compiled lists with the config's
// allow and deny, and the user's overrides. A Service publishes a new Policy
// whenever any of them changes; a Policy itself never changes, so it is safe
// for concurrent use and a request decides with one consistent view.
type Policy struct {
	gen uint64
	// groups decide for their clients; groups[0] is the default group.
	groups     []*groupPolicy
	clients    clientTable
	clientList []Client
	learned    *Matcher        // rules learned from the pixel heuristic; may be nil
	denied     map[string]bool // hosts the user blocked (with subdomains), for every group
	overrides  overrideIndex   // the user's, for every group
	pauses     []Pause
	now        func() time.Time
}

// NewPolicy makes a Policy of a compiled matcher and overrides (which may be
// nil). Services make theirs; tests and one-shot tools (`pixelwall check`)
// use this directly.
// allow are hostnames allowed for everyone, as the config's allow entries.
func NewPolicy(m *Matcher, allow []string, overrides []Override) *Policy {
	def := &groupPolicy{name: DefaultGroup, m: m, allow: indexOverrides(configAllows(allow))}
	return &Policy{groups: []*groupPolicy{def}, overrides: indexOverrides(overrides), now: time.Now}
}

// Generation numbers the policies a Service published, from 1; answers
// cached under one generation are not valid under another.
func (p *Policy) Generation() uint64 { return p.gen }

// Matcher is the compiled lists of the default group.
func (p *Policy) Matcher() *Matcher { return p.groups[0].m }

// MatcherFor is the compiled lists of client's group (for CNAME checks,
// which match names the client did not ask for).
func (p *Policy) MatcherFor(client netip.Addr) *Matcher { return p.groupOf(client).m }

// Overrides are the user's allows in force (not the config's).
func (p *Policy) Overrides() []Override {
	now := p.now()
	out := make([]Override, 0, len(p.overrides.all))
	for _, o := range p.overrides.all {
		if o.List == "" && (o.Until.IsZero() || now.Before(o.Until)) {
			out = append(out, o)
		}
	}
	return out
}

// Decide is the verdict on a request from client, by the lists of the
// client's group: the lists' decision, else the group's deny, else the
// learned rules' (list LearnedListName), turned into Allow when an allow
// (the user's, the config's or the group's) or a pause lets the request
// through. Allows and pauses are consulted only for requests that would be
// blocked.
func (p *Policy) Decide(req *Request, client netip.Addr) Decision {
	g := p.groupOf(client)
	d := g.m.Match(req)
	if d.Action == Pass && g.deny != nil {
		d = g.deny.Match(req)
	}
	if d.Action == Pass && len(p.denied) > 0 {
		d = p.userDenied(req.Host, ResponseFor(req.Type))
	}
	if d.Action == Pass && p.learned != nil && g.learns() {
		d = p.learned.Match(req)
	}
	if d.Action == Block {
		return p.unblock(g, d, client, req.Host, req.SourceHost)
	}
	return d
}

// DecideHost is Decide for a bare hostname (DNS, CONNECT).
func (p *Policy) DecideHost(host string, client netip.Addr) Decision {
	g := p.groupOf(client)
	d := g.m.MatchHost(host)
	if d.Action == Pass && g.deny != nil {
		d = g.deny.MatchHost(host)
	}
	if d.Action == Pass && len(p.denied) > 0 {
		d = p.userDenied(host, ResponseNoContent)
	}
	if d.Action == Block {
		return p.unblock(g, d, client, host, "")
	}
	return d
}

// unblock turns the block d into Allow when an allow or a pause covers
// the request.
func (p *Policy) unblock(g *groupPolicy, d Decision, client netip.Addr, host, source string) Decision {
	now := p.now()
	if o, ok := p.allowed(g, client, host, source, now); ok {
		return o.decision(d)
	}
	if len(p.pauses) > 0 && p.paused(g, client, host, source, now) {
		d.Action, d.Paused = Allow, true
	}
	return d
}

// Allowed reports whether an override (the user's, the config's or the
// client's group's allow) lets client's request to host, made from a page
// on source (may be empty), through.
func (p *Policy) Allowed(client netip.Addr, host, source string) (Override, bool) {
	return p.allowed(p.groupOf(client), client, host, source, p.now())
}

func (p *Policy) allowed(g *groupPolicy, client netip.Addr, host, source string, now time.Time) (Override, bool) {
	if o, ok := g.allow.allowed(client, host, source, now); ok {
		return o, true
	}
	return p.overrides.allowed(client, host, source, now)
}

// Clean returns req's URL without tracking parameters and the parameters it
// removed, by the default group's lists; the URL is unchanged when none
// were.
func (p *Policy) Clean(req *Request) (string, []string) { return p.groups[0].m.Clean(req) }

// CleanFor is Clean by the lists of client's group.
func (p *Policy) CleanFor(req *Request, client netip.Addr) (string, []string) {
	return p.groupOf(client).m.Clean(req)
}

// OverridesListName is the list a user override is reported under.
const OverridesListName = "user-allow"

// decision reports an override that let a blocked request through: Allow,
// naming the override as its rule and the blocking rule's response.
func (o Override) decision(blocked Decision) Decision {
	list := o.List
	if list == "" {
		list = OverridesListName
	}
	return Decision{Action: Allow, Rule: o.String(), List: list, Response: blocked.Response}
}

// String describes the override in the words of an allow rule.
func (o Override) String() string {
	var b strings.Builder
	if o.Host != "" {
		b.WriteString("@@||" + o.Host + "^")
	} else {
		b.WriteString("@@*$domain=" + o.Site)
	}
	if o.Client.IsValid() {
		b.WriteString(" for " + o.Client.String())
	}
	if !o.Until.IsZero() {
		b.WriteString(" until " + o.Until.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// overrideIndex finds the overrides of a host or site by walking its labels
// up to the registrable domain and beyond: a cost per label, not per entry,
// and nothing at all when there are no overrides.
type overrideIndex struct {
	all    []Override
	byHost map[string][]Override
	bySite map[string][]Override
}

func indexOverrides(lists ...[]Override) overrideIndex {
	var ix overrideIndex
	for _, l := range lists {
		ix.all = append(ix.all, l...)
	}
	for _, o := range ix.all {
		switch {
		case o.Host != "":
			if ix.byHost == nil {
				ix.byHost = make(map[string][]Override)
			}
			ix.byHost[o.Host] = append(ix.byHost[o.Host], o)
		case o.Site != "":
			if ix.bySite == nil {
				ix.bySite = make(map[string][]Override)
			}
			ix.bySite[o.Site] = append(ix.bySite[o.Site], o)
		}
	}
	return ix
}

func (ix *overrideIndex) allowed(client netip.Addr, host, source string, now time.Time) (Override, bool) {
	if o, ok := lookupOverride(ix.byHost, client, host, now); ok {
		return o, true
	}
	if source != "" {
		return lookupOverride(ix.bySite, client, source, now)
	}
	return Override{}, false
}

// lookupOverride finds an override in force for client on host or one of
// its parent domains.
func lookupOverride(m map[string][]Override, client netip.Addr, host string, now time.Time) (Override, bool) {
	if len(m) == 0 {
		return Override{}, false
	}
	client = client.Unmap()
	host = strings.TrimSuffix(host, ".")
	for {
		for _, o := range m[host] {
			if (o.Until.IsZero() || now.Before(o.Until)) && (!o.Client.IsValid() || o.Client == client) {
				return o, true
			}
		}
		i := strings.IndexByte(host, '.')
		if i < 0 {
			return Override{}, false
		}
		host = host[i+1:]
	}
}

// UserDenyListName is the list the user's own blocks are reported under.
const UserDenyListName = "user-deny"

// userDenied blocks host when it or a parent domain is one the user
// blocked.
func (p *Policy) userDenied(host string, r Response) Decision {
	for h := strings.TrimSuffix(host, "."); ; {
		if p.denied[h] {
			return Decision{Action: Block, Rule: "||" + h + "^", List: UserDenyListName, Response: r}
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			return Decision{}
		}
		h = h[i+1:]
	}
}
