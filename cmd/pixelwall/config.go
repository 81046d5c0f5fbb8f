package main

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
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

// Config is the YAML configuration. Every key is documented in
// config.example.yaml at the repository root.
type Config struct {
	// DataDir holds the CA, the list cache and the block log.
	DataDir string `yaml:"data_dir"`
	// HTTP is the forward proxy.
	HTTP HTTPConfig `yaml:"http"`
	// DNS: its upstreams also resolve the proxy's upstream hosts.
	DNS DNSConfig `yaml:"dns"`
	// Log is the block log.
	Log LogConfig `yaml:"log"`
	// Dashboard is the admin web UI and /metrics.
	Dashboard DashboardConfig `yaml:"dashboard"`
	// Lists are the blocklists to load, in order.
	Lists []ListConfig `yaml:"lists"`
	// Allow are hostnames never blocked (with their subdomains).
	Allow []string `yaml:"allow"`
	// Deny are hostnames always blocked (with their subdomains).
	Deny []string `yaml:"deny"`
	// Groups have their own lists and settings; "default" is everyone's
	// not in clients:.
	Groups map[string]GroupConfig `yaml:"groups"`
	// Clients put devices, by address or network, in groups.
	Clients []ClientConfig `yaml:"clients"`
}

// ListConfig is one entry of lists:.
type ListConfig struct {
	Name string `yaml:"name"`
	// URL to download the list from; the cached copy in the data dir is used.
	URL string `yaml:"url"`
	// Path of a local list file.
	Path string `yaml:"path"`
	// Format is adblock, hosts or domains; detected when empty.
	Format string `yaml:"format"`
	// Enabled defaults to true.
	Enabled *bool `yaml:"enabled"`
	// Refresh is how often a url list is checked for changes; default: the
	// list's own "! Expires:" hint, else 24h.
	Refresh duration `yaml:"refresh"`
}

// easyPrivacyURL is the list the default config subscribes to.
const easyPrivacyURL = "https://easylist.to/easylist/easyprivacy.txt"

// HTTPConfig is the http: section.
type HTTPConfig struct {
	// Listen is the proxy's address; "off" disables it.
	Listen string `yaml:"listen"`
	// AllowClients are the networks served (CIDRs); others get 403.
	AllowClients []string `yaml:"allow_clients"`
	// DenyDestinations are networks (CIDRs) the proxy never connects to,
	// on top of this host's own addresses for clients on other machines.
	DenyDestinations []string `yaml:"deny_destinations"`
	// ConnectPorts are the ports clients on other machines may CONNECT
	// to; empty means proxy.DefaultConnectPorts.
	ConnectPorts []int `yaml:"connect_ports"`
	// Intercept is all, listed or none.
	Intercept string `yaml:"intercept"`
	// InterceptHosts are the hosts intercepted when Intercept is listed.
	InterceptHosts []string `yaml:"intercept_hosts"`
	// Passthrough hosts are tunnelled without interception, in addition to
	// the built-in ones unless NoDefaultPassthrough.
	Passthrough          []string `yaml:"passthrough"`
	NoDefaultPassthrough bool     `yaml:"no_default_passthrough"`
	// Referer is strip-cross-site, origin or keep.
	Referer string `yaml:"referer"`
	// GPC adds Sec-GPC: 1 and DNT: 1 to requests.
	GPC *bool `yaml:"gpc"`
	// Heuristic catches tiny tracking images from their responses.
	Heuristic *bool `yaml:"heuristic"`
	// Learn turns the heuristic's repeated catches into rules that block
	// before contact (list "learned"). Default true.
	Learn *bool `yaml:"learn"`
	// UpstreamCAFile adds PEM roots for verifying upstream servers.
	UpstreamCAFile string `yaml:"upstream_ca_file"`
}

// DNSConfig is the dns: section.
type DNSConfig struct {
	// Listen is the resolver's address (UDP and TCP); "off" disables it.
	Listen string `yaml:"listen"`
	// AllowClients are the networks answered; others get REFUSED.
	AllowClients []string `yaml:"allow_clients"`
	// Upstreams: host:port, udp://, tcp://, tls://, https://. The plain
	// ones also resolve the proxy's upstream hosts. Default: the system's
	// resolvers from /etc/resolv.conf.
	Upstreams []string `yaml:"upstreams"`
	// DomainUpstreams send names at or under a domain to their own
	// upstreams (conditional forwarding); the longest domain wins.
	DomainUpstreams map[string][]string `yaml:"domain_upstreams"`
	// LocalNames: auto, answer or forward (see resolver.LocalNames).
	LocalNames string `yaml:"local_names"`
	// Strategy is parallel (fastest answer) or failover (in order).
	Strategy string `yaml:"strategy"`
	// BlockMode is null, nxdomain or refused.
	BlockMode string `yaml:"block_mode"`
	// BlockTTL is the TTL of block answers.
	BlockTTL duration `yaml:"block_ttl"`
	// Timeout bounds one upstream attempt.
	Timeout duration `yaml:"timeout"`
	// RateLimit is queries per second per client; 0 means the default
	// (300), negative turns it off.
	RateLimit int `yaml:"rate_limit"`
	// CacheSize is the number of cached answers; negative turns it off.
	CacheSize int `yaml:"cache_size"`
	// Prefetch refreshes popular entries before they expire.
	Prefetch *bool `yaml:"prefetch"`
	// ServeStale serves an answer that expired less than a day ago when
	// no upstream answers (RFC 8767); default true.
	ServeStale *bool `yaml:"serve_stale"`
}

// LogConfig is the log: section.
type LogConfig struct {
	// Path of the SQLite file; default <data_dir>/log/pixelwall.db.
	Path string `yaml:"path"`
	// Retention: entries older than this are deleted. Default 720h (30 days).
	Retention duration `yaml:"retention"`
	// MaxSizeMB caps the database file. Default 1024.
	MaxSizeMB int64 `yaml:"max_size_mb"`
	// KeepQueryValues stores URLs whole; by default query values are
	// redacted (names kept): a pixel's query often carries an e-mail address.
	KeepQueryValues bool `yaml:"keep_query_values"`
	// AnonymizeClients stores IPv4 clients as their /24, IPv6 as their /48.
	AnonymizeClients bool `yaml:"anonymize_clients"`
	// LogAllowed stores every request and query, not only blocks and strips.
	LogAllowed bool `yaml:"log_allowed"`
	// JSON also writes every entry as a JSON line to this file, or to
	// standard output with "stdout", for log shippers.
	JSON string `yaml:"json"`
}

// DashboardConfig is the dashboard: section.
type DashboardConfig struct {
	// Listen is the admin listener; "off" disables it. Default 127.0.0.1:8081.
	Listen string `yaml:"listen"`
	// PasswordHash (bcrypt, from `pixelwall dashboard password`) is
	// required when the listener is not on loopback.
	PasswordHash string `yaml:"password_hash"`
}

// duration is a time.Duration written as "10s", "1m30s" or "30d".
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// parseDuration reads a duration as time.ParseDuration does, with days
// ("d") as a further unit written first: "30d", "1d12h". Negative
// durations are errors. Every duration of the config and the command line
// is read with it.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration like 90s, 10m, 12h, 30d or 1d12h", s)
	days, rest, hasDays := strings.Cut(s, "d")
	var total time.Duration
	if hasDays {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil || n > 100000 {
			return 0, bad
		}
		total = time.Duration(n) * 24 * time.Hour
		if rest == "" {
			return total, nil
		}
		s = rest
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 || strings.HasPrefix(s, "+") {
		return 0, bad
	}
	return total + v, nil
}

// durationFlag is a flag.Value for a duration read with parseDuration; set
// says whether it was given.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	switch {
	case f == nil:
		return ""
	case f.d > 0 && f.d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(f.d/(24*time.Hour)), 10) + "d"
	case f.d > 0 && f.d%time.Hour == 0:
		return strconv.FormatInt(int64(f.d/time.Hour), 10) + "h"
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return errors.New("not a duration like 90s, 10m, 12h, 30d or 1d12h")
	}
	f.d, f.set = d, true
	return nil
}

// defaultConfig is used when no config file is given: the embedded lists,
// the proxy on loopback.
func defaultConfig() *Config {
	return &Config{
		// EasyPrivacy, on top of the embedded lists, which serve alone
		// until its first download arrives and whenever the machine is
		// offline.
		Lists: []ListConfig{{Name: "easyprivacy", URL: easyPrivacyURL}},
		HTTP: HTTPConfig{
			Listen:       "127.0.0.1:8080",
			AllowClients: []string{"127.0.0.0/8", "::1/128"},
			Intercept:    "all",
			Referer:      "origin",
		},
		Log:       LogConfig{Retention: duration(30 * 24 * time.Hour), MaxSizeMB: 1024},
		Dashboard: DashboardConfig{Listen: "127.0.0.1:8081"},
		DNS: DNSConfig{
			Listen:       "127.0.0.1:5353",
			AllowClients: []string{"127.0.0.0/8", "::1/128"},
			Strategy:     "parallel",
			LocalNames:   "auto",
			BlockMode:    "null",
			BlockTTL:     duration(10 * time.Second),
			Timeout:      duration(2 * time.Second),
		},
	}
}

// configError points at the place in a config file that is wrong.
type configError struct {
	file string
	line int
	key  string
	msg  string
}

func (e *configError) Error() string {
	if e.key != "" {
		return fmt.Sprintf("%s:%d: %s: %s", e.file, e.line, e.key, e.msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg)
}

// loadConfig reads and checks a config file. Unknown keys, wrong types and
// bad values are errors that name the file, line and key.
func loadConfig(path string) (*Config, error) {
	path, err := expandHome(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parseConfig(path, b)
}

func parseConfig(path string, b []byte) (*Config, error) {
	cfg := defaultConfig()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return cfg, nil // an empty file is the defaults
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return cfg, nil
	}
	if err := checkKeys(path, doc.Content[0], reflect.TypeOf(*cfg), ""); err != nil {
		return nil, err
	}
	if err := doc.Content[0].Decode(cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s: %s", path, strings.Join(te.Errors, "; "))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := cfg.validate(path, doc.Content[0]); err != nil {
		return nil, err
	}
	if err := cfg.expandPaths(path, doc.Content[0]); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkKeys walks the YAML tree beside the Go type and reports the first key
// the type does not have, with its line.
func checkKeys(file string, n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return &configError{file, n.Line, path, "want a mapping of keys"}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fieldByTag(t, k.Value)
			key := joinKey(path, k.Value)
			if !ok {
				return &configError{file, k.Line, key, "unknown key" + suggest(t)}
			}
			if err := checkKeys(file, v, f.Type, key); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return &configError{file, n.Line, path, "want a list"}
		}
		for i, item := range n.Content {
			if err := checkKeys(file, item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map: // free-form keys (dns.domain_upstreams)
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return &configError{file, n.Line, path, "want a mapping of keys"}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKeys(file, n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	default:
		if n.Kind != yaml.ScalarNode {
			return &configError{file, n.Line, path, "want a single value, not a list or mapping"}
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return &configError{file, n.Line, path, scalarProblem(t, n.Value, err)}
		}
	}
	return nil
}

// scalarProblem says why value does not fit a key of type t.
func scalarProblem(t reflect.Type, value string, err error) string {
	if t == reflect.TypeFor[duration]() {
		return err.Error()
	}
	switch t.Kind() {
	case reflect.Bool:
		return fmt.Sprintf("%q: want true or false", value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("%q: want a whole number", value)
	}
	return fmt.Sprintf("%q: want a %s", value, t.Kind())
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func suggest(t reflect.Type) string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return " (known keys: " + strings.Join(names, ", ") + ")"
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// validate checks values; n is the document's root, for line numbers.
func (c *Config) validate(file string, root *yaml.Node) error {
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
	at := func(key string, index int, msg string) error {
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
	for i, u := range c.DNS.Upstreams {
		if _, err := resolver.ParseUpstream(u, resolver.UpstreamOptions{}); err != nil {
			return at("dns.upstreams", i, err.Error())
		}
		if msg := upstreamPortProblem(u); msg != "" {
			return at("dns.upstreams", i, msg)
		}
	}
	for key, hosts := range map[string][]string{"allow": c.Allow, "deny": c.Deny} {
		for i, h := range hosts {
			if _, err := blocklist.NewRequest("http://"+h+"/", "", blocklist.TypeOther); err != nil || strings.ContainsAny(h, "/:?#* ") {
				return &configError{file, nodeLine(root, key, i, ""), fmt.Sprintf("%s[%d]", key, i), fmt.Sprintf("%q is not a hostname", h)}
			}
		}
	}
	return c.validateGroups(file, root)
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

// expandHome expands a leading "~" or "~/" to the user's home directory;
// other paths are returned as they are.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%q: no home directory to expand ~ to: %w", p, err)
	}
	return filepath.Join(home, p[1:]), nil
}

// expandPaths expands ~ in the config's file and directory names.
func (c *Config) expandPaths(file string, root *yaml.Node) error {
	paths := []struct {
		key string
		p   *string
	}{{"data_dir", &c.DataDir}, {"log.path", &c.Log.Path}, {"http.upstream_ca_file", &c.HTTP.UpstreamCAFile}}
	if c.Log.JSON != "stdout" {
		paths = append(paths, struct {
			key string
			p   *string
		}{"log.json", &c.Log.JSON})
	}
	for _, p := range paths {
		v, err := expandHome(*p.p)
		if err != nil {
			section, sub, _ := strings.Cut(p.key, ".")
			line := root.Line
			if n := mapValue(root, section); n != nil {
				line = n.Line
				if m := mapValue(n, sub); m != nil {
					line = m.Line
				}
			}
			return &configError{file, line, p.key, err.Error()}
		}
		*p.p = v
	}
	for i := range c.Lists {
		v, err := expandHome(c.Lists[i].Path)
		if err != nil {
			return &configError{file, nodeLine(root, "lists", i, "path"), fmt.Sprintf("lists[%d].path", i), err.Error()}
		}
		c.Lists[i].Path = v
	}
	return nil
}

// parseNetwork reads a CIDR network or a single address.
func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// mapValue returns the value node of key in a mapping node, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// nodeLine finds the line of root[key][index][sub] (sub may be empty),
// falling back to the nearest parent found.
func nodeLine(root *yaml.Node, key string, index int, sub string) int {
	line := root.Line
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != key {
			continue
		}
		seq := root.Content[i+1]
		line = root.Content[i].Line
		if index >= len(seq.Content) {
			return line
		}
		item := seq.Content[index]
		line = item.Line
		for j := 0; sub != "" && j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == sub {
				return item.Content[j].Line
			}
		}
	}
	return line
}

// dataDir resolves the data directory: flag, then config, then
// $XDG_DATA_HOME/pixelwall (or ~/.local/share/pixelwall). A leading ~ in
// the flag is expanded too ("-data=~/x" reaches us unexpanded).
func dataDir(flagValue string, cfg *Config) string {
	switch {
	case flagValue != "":
		if p, err := expandHome(flagValue); err == nil {
			return p
		}
		return flagValue
	case cfg.DataDir != "":
		return cfg.DataDir
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "pixelwall")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "pixelwall")
	}
	return "pixelwall-data"
}
