package blocklist

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// DefaultGroup is the group of every client no Client entry names.
const DefaultGroup = "default"

// Group is a set of clients deciding with their own lists and settings.
type Group struct {
	Name string
	// Lists are the names of the lists the group uses (configured, extra
	// or embedded); nil: all of them. The config's deny list applies to
	// every group.
	Lists []string
	// Allow and Deny are hostnames (with their subdomains) allowed or
	// blocked for this group, on top of the config's.
	Allow, Deny []string
	// Settings are the group's choices that are not list decisions; the
	// proxy and the resolver read them through Policy.Group.
	Settings GroupSettings
}

// GroupSettings are a group's choices for the proxy and the resolver. A
// zero field leaves the global setting in force.
type GroupSettings struct {
	// BlockMode is the DNS answer for blocked names (null, nxdomain,
	// refused), as the resolver parses it.
	BlockMode string
	// Intercept is all, listed or none, as the proxy parses it.
	Intercept string
	// Referer is strip-cross-site, origin or keep.
	Referer string
	// Heuristic, Learn and GPC turn those features on or off.
	Heuristic, Learn, GPC *bool
}

// Client names a device or network and puts it in a group.
type Client struct {
	Name     string
	Prefixes []netip.Prefix
	Group    string
}

// GroupView is what a Policy says about the group of one client.
type GroupView struct {
	Name     string
	Client   string // the client's configured name; empty when unnamed
	Settings GroupSettings
}

// groupPolicy is one group's part of a Policy. Groups using the same set
// of lists share one compiled Matcher.
type groupPolicy struct {
	name     string
	m        *Matcher
	deny     *Matcher // the group's own deny entries; nil when none
	allow    overrideIndex
	settings GroupSettings
}

// learns reports whether the group applies learned rules.
func (g *groupPolicy) learns() bool { return g.settings.Learn == nil || *g.settings.Learn }

// clientEntry maps a network to a client and its group.
type clientEntry struct {
	prefix netip.Prefix
	name   string
	group  int
}

// clientTable finds the client of an address: host addresses by map, the
// rest by a scan of the networks, most specific first. A table without
// entries costs one length check.
type clientTable struct {
	hosts    map[netip.Addr]int // index into entries
	networks []int              // indexes into entries, longest prefix first
	entries  []clientEntry
}

func newClientTable(clients []Client, groupIndex map[string]int) clientTable {
	var t clientTable
	for _, c := range clients {
		g, ok := groupIndex[c.Group]
		if !ok {
			g = 0
		}
		for _, p := range c.Prefixes {
			p = p.Masked()
			if a := p.Addr(); a.Is4In6() {
				p = netip.PrefixFrom(a.Unmap(), max(p.Bits()-96, 0))
			}
			t.entries = append(t.entries, clientEntry{prefix: p, name: c.Name, group: g})
		}
	}
	for i, e := range t.entries {
		if e.prefix.IsSingleIP() {
			if t.hosts == nil {
				t.hosts = make(map[netip.Addr]int)
			}
			t.hosts[e.prefix.Addr()] = i
			continue
		}
		t.networks = append(t.networks, i)
	}
	slices.SortStableFunc(t.networks, func(a, b int) int {
		return cmp.Compare(t.entries[b].prefix.Bits(), t.entries[a].prefix.Bits())
	})
	return t
}

// lookup finds the most specific entry for addr, or -1.
func (t *clientTable) lookup(addr netip.Addr) int {
	if len(t.entries) == 0 {
		return -1
	}
	addr = addr.Unmap().WithZone("")
	if i, ok := t.hosts[addr]; ok {
		return i
	}
	for _, i := range t.networks {
		if t.entries[i].prefix.Contains(addr) {
			return i
		}
	}
	return -1
}

// groupOf is the group that decides for client.
func (p *Policy) groupOf(client netip.Addr) *groupPolicy {
	if len(p.groups) > 1 {
		if i := p.clients.lookup(client); i >= 0 {
			return p.groups[p.clients.entries[i].group]
		}
	}
	return p.groups[0]
}

// Group says which group decides for client, with the client's name and
// the group's settings.
func (p *Policy) Group(client netip.Addr) GroupView {
	g := p.groupOf(client)
	v := GroupView{Name: g.name, Settings: g.settings}
	if i := p.clients.lookup(client); i >= 0 {
		v.Client = p.clients.entries[i].name
	}
	return v
}

// ClientName is client's configured name, or "".
func (p *Policy) ClientName(client netip.Addr) string {
	if i := p.clients.lookup(client); i >= 0 {
		return p.clients.entries[i].name
	}
	return ""
}

// Clients are the configured clients, as given.
func (p *Policy) Clients() []Client { return p.clientList }

// Groups are the names of the groups, the default first.
func (p *Policy) Groups() []string {
	out := make([]string, len(p.groups))
	for i, g := range p.groups {
		out[i] = g.name
	}
	return out
}

// listSetKey names a set of lists, for sharing compiled matchers between
// groups that use the same ones; "" is every list.
func listSetKey(names []string) string {
	if names == nil {
		return ""
	}
	s := slices.Clone(names)
	slices.Sort(s)
	return "\x00" + strings.Join(slices.Compact(s), "\x00")
}

// pickSources are the sources of srcs a group with lists uses: the named
// ones, and always the config's deny.
func pickSources(srcs []Source, lists []string) []Source {
	if lists == nil {
		return srcs
	}
	var out []Source
	for _, s := range srcs {
		if s.Name == ConfigDenyListName || slices.Contains(lists, s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// ConfigDenyListName is the list the config's deny entries are compiled
// under.
const ConfigDenyListName = "deny"

// groupDenyListName is the list a group's deny entries are reported under.
func groupDenyListName(group string) string { return "deny:" + group }

// compileGroups builds the groups of cfg from srcs, compiling each distinct
// set of lists once; all is the matcher of every list (the default group's
// unless cfg lists the default group with a subset).
func compileGroups(cfg Config, srcs []Source, all *Matcher, compile func([]Source) *Matcher) (groups []*groupPolicy, index map[string]int) {
	byKey := map[string]*Matcher{"": all}
	matcherFor := func(lists []string) *Matcher {
		k := listSetKey(lists)
		if m, ok := byKey[k]; ok {
			return m
		}
		m := compile(pickSources(srcs, lists))
		byKey[k] = m
		return m
	}
	build := func(g Group) *groupPolicy {
		gp := &groupPolicy{name: g.Name, m: matcherFor(g.Lists), settings: g.Settings}
		if len(g.Deny) > 0 {
			gp.deny = Compile(Source{Name: groupDenyListName(g.Name), Format: FormatDomains, Text: strings.Join(g.Deny, "\n")})
		}
		allows := configAllows(cfg.Allow)
		for _, h := range g.Allow {
			allows = append(allows, Override{Host: strings.TrimSuffix(lowerHost(h), "."), List: ConfigAllowListName + ":" + g.Name})
		}
		gp.allow = indexOverrides(allows)
		return gp
	}
	index = map[string]int{DefaultGroup: 0}
	groups = []*groupPolicy{nil}
	var defGroup *Group
	for i := range cfg.Groups {
		g := cfg.Groups[i]
		if g.Name == DefaultGroup {
			defGroup = &cfg.Groups[i]
			continue
		}
		index[g.Name] = len(groups)
		groups = append(groups, build(g))
	}
	if defGroup != nil {
		groups[0] = build(*defGroup)
	} else {
		groups[0] = build(Group{Name: DefaultGroup})
	}
	return groups, index
}
