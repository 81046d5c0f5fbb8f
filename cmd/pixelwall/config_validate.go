package main

import (
	"encoding"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// keyError makes the error of a value at key (section.sub, index i of a
// list or -1), with the line of the value, else of its section.
type keyError func(key string, index int, msg string) error

// validate checks values; n is the document's root, for line numbers.
func (c *Config) validate(file string, root *yaml.Node) error {
	if err := c.validateLists(file, root); err != nil {
		return err
	}
	at := keyErrors(file, root)
	for _, check := range []func(keyError) error{c.validateListeners, c.validateEnums, c.validateUpstreams, c.validateDNSTimes, c.validateOpenAccess} {
		if err := check(at); err != nil {
			return err
		}
	}
	if err := c.validateDomainUpstreams(file, root); err != nil {
		return err
	}
	if err := c.validateHosts(file, root); err != nil {
		return err
	}
	return c.validateGroups(file, root)
}

// keyErrors is validate's keyError for file.
func keyErrors(file string, root *yaml.Node) keyError {
	return func(key string, index int, msg string) error {
		section, sub, _ := strings.Cut(key, ".")
		line := root.Line
		if sec := mapValue(root, section); sec != nil {
			line = sec.Line
			if v := mapValue(sec, sub); v != nil {
				line = v.Line
				if index >= 0 && index < len(v.Content) {
					line = v.Content[index].Line
				}
			}
		}
		if index >= 0 {
			key = fmt.Sprintf("%s[%d]", key, index)
		}
		return &configError{file, line, key, msg}

	}
}

// validateLists checks lists: names, sources and formats.
func (c *Config) validateLists(file string, root *yaml.Node) error {
	names := map[string]bool{}
	for i, l := range c.Lists {
		at := func(key, msg string) error {
			return &configError{file, nodeLine(root, "lists", i, key), fmt.Sprintf("lists[%d].%s", i, key), msg}
		}
		switch {
		case l.Name == "":
			return at("name", "every list needs a name")
		case names[l.Name]:
			return at("name", fmt.Sprintf("duplicate list name %q", l.Name))
		case blocklist.ValidListName(l.Name) != nil:
			return at("name", blocklist.ValidListName(l.Name).Error())
		case (l.URL == "") == (l.Path == ""):
			return at("url", "give exactly one of url and path")
		case l.URL != "" && !strings.HasPrefix(l.URL, "https://") && !strings.HasPrefix(l.URL, "http://"):
			return at("url", fmt.Sprintf("%q is not an http(s) URL", l.URL))
		}
		if _, err := blocklist.ParseFormat(l.Format); err != nil {
			return at("format", err.Error())
		}
		names[l.Name] = true
	}
	return nil
}

// validateListeners checks the listen addresses, client and destination
// networks and CONNECT ports.
func (c *Config) validateListeners(at keyError) error {
	if msg := listenProblem(c.HTTP.Listen); msg != "" {
		return at("http.listen", -1, msg)
	}
	if msg := listenProblem(c.DNS.Listen); msg != "" {
		return at("dns.listen", -1, msg)
	}
	for _, key := range []string{"http.allow_clients", "dns.allow_clients", "http.deny_destinations"} {
		list := c.HTTP.AllowClients
		switch key {
		case "dns.allow_clients":
			list = c.DNS.AllowClients
		case "http.deny_destinations":
			list = c.HTTP.DenyDestinations
		}
		for i, p := range list {
			if _, err := parseNetwork(p); err != nil {
				return at(key, i, fmt.Sprintf("%q is not a CIDR network or an IP address", p))
			}
		}
	}
	for i, p := range c.HTTP.ConnectPorts {
		if p < 1 || p > 65535 {
			return at("http.connect_ports", i, fmt.Sprintf("%d is not a TCP port (1-65535)", p))
		}
	}
	if msg := c.dashboardProblem(); msg != "" {
		return at("dashboard.listen", -1, msg)
	}
	return nil
}

// validateEnums checks the settings that name a mode, through the
// libraries' own UnmarshalText.
func (c *Config) validateEnums(at keyError) error {
	for _, e := range []struct {
		key, value string
		into       encoding.TextUnmarshaler
	}{
		{"dns.strategy", c.DNS.Strategy, new(resolver.Strategy)}, {"dns.local_names", c.DNS.LocalNames, new(resolver.LocalNames)},
		{"dns.block_mode", c.DNS.BlockMode, new(resolver.BlockMode)}, {"http.intercept", c.HTTP.Intercept, new(proxy.Intercept)},
		{"http.referer", c.HTTP.Referer, new(proxy.RefererPolicy)},
	} {
		if err := e.into.UnmarshalText([]byte(e.value)); err != nil {
			return at(e.key, -1, err.Error())
		}
	}
	return nil
}

// validateDomainUpstreams checks dns.domain_upstreams: domain names, each
// once, with upstreams that parse.
func (c *Config) validateDomainUpstreams(file string, root *yaml.Node) error {
	seen := map[string]string{} // normalized domain → key as written
	for _, d := range slices.Sorted(maps.Keys(c.DNS.DomainUpstreams)) {
		// The line of the domain's entry, or of its upstream.
		line := func(i int) int {
			m := mapValue(mapValue(root, "dns"), "domain_upstreams")
			n := mapValue(m, d)
			switch {
			case n == nil && m == nil:
				return root.Line
			case n == nil:
				return m.Line
			case i >= 0 && i < len(n.Content):
				return n.Content[i].Line
			}
			return n.Line
		}
		key := "dns.domain_upstreams." + d
		if _, ok := dns.IsDomainName(d); !ok || strings.Trim(d, ".") == "" || strings.ContainsAny(d, "*/:\\ \t@") {
			return &configError{file, line(-1), key, fmt.Sprintf("%q is not a domain name", d)}
		}
		if strings.IndexFunc(d, func(r rune) bool { return r > 0x7f }) >= 0 {
			return &configError{file, line(-1), key, fmt.Sprintf("%q: write an international name as it goes over DNS, in punycode (xn--…)", d)}
		}
		norm := strings.ToLower(strings.TrimSuffix(d, "."))
		if other, dup := seen[norm]; dup {
			return &configError{file, line(-1), key, fmt.Sprintf("the same domain as %q", other)}
		}
		seen[norm] = d
		ups := c.DNS.DomainUpstreams[d]
		if len(ups) == 0 {
			return &configError{file, line(-1), key, "no upstreams for this domain"}
		}
		for i, u := range ups {
			if _, err := resolver.ParseUpstream(u, resolver.UpstreamOptions{}); err != nil {
				return &configError{file, line(i), fmt.Sprintf("%s[%d]", key, i), err.Error()}
			}
			if msg := upstreamPortProblem(u); msg != "" {
				return &configError{file, line(i), fmt.Sprintf("%s[%d]", key, i), msg}
			}
		}
	}
	return nil
}

// validateUpstreams checks dns.upstreams.
func (c *Config) validateUpstreams(at keyError) error {
	for i, u := range c.DNS.Upstreams {
		if _, err := resolver.ParseUpstream(u, resolver.UpstreamOptions{}); err != nil {
			return at("dns.upstreams", i, err.Error())
		}
		if msg := upstreamPortProblem(u); msg != "" {
			return at("dns.upstreams", i, msg)
		}
	}
	return nil
}

// validateHosts checks allow and deny.
func (c *Config) validateHosts(file string, root *yaml.Node) error {
	for key, hosts := range map[string][]string{"allow": c.Allow, "deny": c.Deny} {
		for i, h := range hosts {
			if _, err := blocklist.NewRequest("http://"+h+"/", "", blocklist.TypeOther); err != nil || strings.ContainsAny(h, "/:?#* ") {
				return &configError{file, nodeLine(root, key, i, ""), fmt.Sprintf("%s[%d]", key, i), fmt.Sprintf("%q is not a hostname", h)}
			}
		}
	}
	return nil
}

// listenProblem says what is wrong with a listen address, or "". A
// listener takes port 0 (the system picks a free one, printed at start).
func listenProblem(addr string) string {
	if addr == "off" {
		return ""
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port (or off)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q: the port must be a number from 1 to 65535 (0: any free port)", addr)
	}
	return ""
}

// dashboardProblem checks dashboard.listen: an address, and a password
// when it is reachable beyond loopback.
func (c *Config) dashboardProblem() string {
	l := c.Dashboard.Listen
	if msg := listenProblem(l); msg != "" || l == "off" {
		return msg
	}
	host, _, _ := net.SplitHostPort(l)
	if ip, err := netip.ParseAddr(host); (err != nil || !ip.IsLoopback()) && host != "localhost" && c.Dashboard.PasswordHash == "" {
		return "the dashboard listens beyond loopback: set dashboard.password_hash (pixelwall dashboard password)"
	}
	return ""
}

// overrideListen applies run's -http, -dns and -dashboard flags (empty:
// keep the config's) and checks them as the config's are checked.
func (c *Config) overrideListen(httpAddr, dnsAddr, dashAddr string) error {
	for _, o := range []struct {
		flag, value string
		to          *string
	}{{"-http", httpAddr, &c.HTTP.Listen}, {"-dns", dnsAddr, &c.DNS.Listen}, {"-dashboard", dashAddr, &c.Dashboard.Listen}} {
		if o.value == "" {
			continue
		}
		*o.to = o.value
		msg := listenProblem(o.value)
		if o.flag == "-dashboard" && msg == "" {
			msg = c.dashboardProblem()
		}
		if msg != "" {
			return fmt.Errorf("%s: %s", o.flag, msg)
		}
	}
	return nil
}

// Bounds of dns.block_ttl and dns.timeout. A TTL is 32 bits on the wire,
// but a block answer cached for longer than a day outlives any list
// change; an upstream attempt shorter than 50 ms fails on most links.
const (
	minBlockTTL   = time.Second
	maxBlockTTL   = 24 * time.Hour
	minDNSTimeout = 50 * time.Millisecond
	maxDNSTimeout = 30 * time.Second
)

// validateDNSTimes checks dns.block_ttl and dns.timeout; at is validate's
// error maker.
func (c *Config) validateDNSTimes(at keyError) error {
	if ttl := time.Duration(c.DNS.BlockTTL); ttl < minBlockTTL || ttl > maxBlockTTL {
		return at("dns.block_ttl", -1, fmt.Sprintf("%v: want %v to %v", ttl, minBlockTTL, maxBlockTTL))
	}
	if d := time.Duration(c.DNS.Timeout); d < minDNSTimeout || d > maxDNSTimeout {
		return at("dns.timeout", -1, fmt.Sprintf("%v: want %v to %v", d, minDNSTimeout, maxDNSTimeout))
	}
	return nil
}

// worldOpen returns the entries of allow that take in every address of a
// family (0.0.0.0/0, ::/0).
func worldOpen(allow []string) []string {
	var open []string
	for _, a := range allow {
		if p, err := parseNetwork(a); err == nil && p.Bits() == 0 {
			open = append(open, a)
		}
	}
	return open
}

// mayFaceInternet reports whether a listen address may be reachable from
// the internet: every interface (0.0.0.0, ::, no host), a name, or an
// address that is neither loopback, private (RFC 1918, fc00::/7) nor
// link-local.
func mayFaceInternet(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "localhost" {
		return false // "off", or checked elsewhere
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return true
	}
	ip = ip.Unmap()
	return !ip.IsLoopback() && !ip.IsPrivate() && !ip.IsLinkLocalUnicast()
}

// validateOpenAccess refuses allow_clients open to every address on a
// listener that may face the internet, unless the section says
// allow_open_access: an open proxy or resolver is abused within hours.
func (c *Config) validateOpenAccess(at keyError) error {
	for _, sec := range []struct {
		name, listen string
		allow        []string
		ok           bool
	}{
		{"http", c.HTTP.Listen, c.HTTP.AllowClients, c.HTTP.AllowOpenAccess},
		{"dns", c.DNS.Listen, c.DNS.AllowClients, c.DNS.AllowOpenAccess},
	} {
		open := worldOpen(sec.allow)
		if len(open) == 0 || sec.ok || sec.listen == "off" || !mayFaceInternet(sec.listen) {
			continue
		}
		i := slices.Index(sec.allow, open[0])
		return at(sec.name+".allow_clients", i, fmt.Sprintf("%q lets every address use the %s listening on %s, "+
			"which may face the internet: list your networks instead, or set %s.allow_open_access: true",
			open[0], map[string]string{"http": "proxy", "dns": "resolver"}[sec.name], sec.listen, sec.name))
	}
	return nil
}

// upstreamPortProblem checks the port of an upstream that names one: an
// upstream has to be asked on a real port (1–65535).
func upstreamPortProblem(u string) string {
	hostport := u
	if scheme, rest, ok := strings.Cut(u, "://"); ok {
		if scheme == "https" {
			pu, err := url.Parse(u)
			if err != nil {
				return ""
			}
			hostport = pu.Host
		} else {
			hostport, _, _ = strings.Cut(rest, "#")
		}
	}
	_, port, err := net.SplitHostPort(hostport)
	if err != nil || port == "" {
		return "" // the protocol's default port
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%q: the port must be a number from 1 to 65535", u)
	}
	return ""
}

// OpenAccess returns a warning for each service whose allow_clients take
// in every address, for the start-up log and the dashboard; none when
// there is none.
func (c *Config) OpenAccess() []string {
	var out []string
	for _, sec := range []struct {
		name, what, listen string
		allow              []string
	}{
		{"http", "proxy", c.HTTP.Listen, c.HTTP.AllowClients},
		{"dns", "resolver", c.DNS.Listen, c.DNS.AllowClients},
	} {
		if open := worldOpen(sec.allow); len(open) > 0 && sec.listen != "off" {
			out = append(out, fmt.Sprintf("%s.allow_clients has %s: the %s on %s serves every address that reaches it",
				sec.name, strings.Join(open, ", "), sec.what, sec.listen))
		}
	}
	return out
}
