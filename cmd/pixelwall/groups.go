package main

import (
	"encoding"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// GroupConfig is one entry of groups:. Empty values leave the global
// setting in force.
type GroupConfig struct {
	// Lists are the names of the lists the group uses (from lists:, or the
	// embedded pixelwall-default and pixelwall-params); default: all.
	Lists []string `yaml:"lists"`
	// Allow and Deny are hostnames allowed or blocked for this group, on
	// top of the global allow: and deny:.
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
	// BlockMode is the group's dns.block_mode.
	BlockMode string `yaml:"block_mode"`
	// Intercept is the group's http.intercept.
	Intercept string `yaml:"intercept"`
	// Heuristic, Learn, Referer and GPC are the group's http settings.
	Heuristic *bool  `yaml:"heuristic"`
	Learn     *bool  `yaml:"learn"`
	Referer   string `yaml:"referer"`
	GPC       *bool  `yaml:"gpc"`
}

// ClientConfig is one entry of clients:.
type ClientConfig struct {
	Name string `yaml:"name"`
	// Addresses are IP addresses or CIDR networks; where networks of
	// clients overlap, the most specific wins.
	Addresses []string `yaml:"addresses"`
	// Group is a name from groups:, or default.
	Group string `yaml:"group"`
}

// validateGroups checks groups: and clients: (unknown lists and groups,
// bad hosts and values, the same network in two clients).
func (c *Config) validateGroups(file string, root *yaml.Node) error {
	if err := c.validateGroupEntries(file, root); err != nil {
		return err
	}
	return c.validateClients(file, root)
}

// validateGroupEntries checks each group's lists, hosts and settings.
func (c *Config) validateGroupEntries(file string, root *yaml.Node) error {
	groupsNode := mapValue(root, "groups")
	gline := func(group, key string, index int) int {
		n := mapValue(groupsNode, group)
		if n == nil {
			if groupsNode != nil {
				return groupsNode.Line
			}
			return root.Line
		}
		v := mapValue(n, key)
		switch {
		case v == nil:
			return n.Line
		case index >= 0 && index < len(v.Content):
			return v.Content[index].Line
		}
		return v.Line
	}
	known := map[string]bool{blocklist.DefaultListName: true, blocklist.ParamsListName: true}
	for _, l := range c.Lists {
		known[l.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(c.Groups)) {
		g := c.Groups[name]
		at := func(key string, index int, msg string) error {
			k := "groups." + name
			if key != "" {
				k += "." + key
			}
			if index >= 0 {
				k += fmt.Sprintf("[%d]", index)
			}
			return &configError{file, gline(name, key, index), k, msg}
		}
		if strings.TrimSpace(name) == "" {
			return at("", -1, "a group needs a name")
		}
		for i, l := range g.Lists {
			if !known[l] {
				return at("lists", i, fmt.Sprintf("no list named %q in lists: (known: %s)", l, strings.Join(slices.Sorted(maps.Keys(known)), ", ")))
			}
		}
		for key, hosts := range map[string][]string{"allow": g.Allow, "deny": g.Deny} {
			for i, h := range hosts {
				if hostProblem(h) {
					return at(key, i, fmt.Sprintf("%q is not a hostname", h))
				}
			}
		}
		for _, e := range []struct {
			key, value string
			into       encoding.TextUnmarshaler
		}{
			{"block_mode", g.BlockMode, new(resolver.BlockMode)}, {"intercept", g.Intercept, new(proxy.Intercept)},
			{"referer", g.Referer, new(proxy.RefererPolicy)},
		} {
			if e.value == "" {
				continue
			}
			if err := e.into.UnmarshalText([]byte(e.value)); err != nil {
				return at(e.key, -1, err.Error())
			}
		}
	}
	return nil
}

// validateClients checks clients: names, networks and groups.
func (c *Config) validateClients(file string, root *yaml.Node) error {
	names := map[string]int{}
	networks := map[netip.Prefix]string{}
	for i, cl := range c.Clients {
		at := func(key string, index int, msg string) error {
			k := fmt.Sprintf("clients[%d].%s", i, key)
			line := nodeLine(root, "clients", i, key)
			if index >= 0 {
				k += fmt.Sprintf("[%d]", index)
				line = seqLine(root, "clients", i, key, index, line)
			}
			return &configError{file, line, k, msg}
		}
		switch {
		case cl.Name == "":
			return at("name", -1, "every client needs a name")
		case len(cl.Addresses) == 0:
			return at("addresses", -1, "give the client's addresses or networks")
		}
		if j, dup := names[cl.Name]; dup {
			return at("name", -1, fmt.Sprintf("the same name as clients[%d]", j))
		}
		names[cl.Name] = i
		if _, ok := c.Groups[cl.Group]; !ok && cl.Group != blocklist.DefaultGroup && cl.Group != "" {
			return at("group", -1, fmt.Sprintf("no group %q in groups:", cl.Group))
		}
		for k, a := range cl.Addresses {
			p, err := parseNetwork(a)
			if err != nil {
				return at("addresses", k, fmt.Sprintf("%q is not a CIDR network or an IP address", a))
			}
			if other, dup := networks[p]; dup {
				return at("addresses", k, fmt.Sprintf("%s is already the network of client %q", p, other))
			}
			networks[p] = cl.Name
		}
	}
	return nil
}

// seqLine is the line of root[key][index][sub][i], or fallback.
func seqLine(root *yaml.Node, key string, index int, sub string, i, fallback int) int {
	seq := mapValue(root, key)
	if seq == nil || seq.Kind != yaml.SequenceNode || index >= len(seq.Content) {
		return fallback
	}
	if v := mapValue(seq.Content[index], sub); v != nil && i < len(v.Content) {
		return v.Content[i].Line
	}
	return fallback
}

// hostProblem reports whether h is not a hostname an allow or deny entry
// can name.
func hostProblem(h string) bool {
	_, err := blocklist.NewRequest("http://"+h+"/", "", blocklist.TypeOther)
	return err != nil || strings.ContainsAny(h, "/:?#* ")
}

// groupsConfig are cfg's groups and clients for the lists service.
func groupsConfig(cfg *Config) ([]blocklist.Group, []blocklist.Client) {
	var groups []blocklist.Group
	for _, name := range slices.Sorted(maps.Keys(cfg.Groups)) {
		g := cfg.Groups[name]
		groups = append(groups, blocklist.Group{Name: name, Lists: g.Lists, Allow: g.Allow, Deny: g.Deny,
			Settings: blocklist.GroupSettings{BlockMode: g.BlockMode, Intercept: g.Intercept, Referer: g.Referer,
				Heuristic: g.Heuristic, Learn: g.Learn, GPC: g.GPC}})
	}
	var clients []blocklist.Client
	for _, c := range cfg.Clients {
		group := c.Group
		if group == "" {
			group = blocklist.DefaultGroup
		}
		clients = append(clients, blocklist.Client{Name: c.Name, Prefixes: networks(c.Addresses), Group: group})
	}
	return groups, clients
}
