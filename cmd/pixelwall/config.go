package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the YAML configuration. Every key is documented in
// config.example.yaml at the repository root.
type Config struct {
	// DataDir holds the CA, the list cache and the block log.
	DataDir string `yaml:"data_dir"`
	// HTTP is the forward proxy.
	HTTP HTTPConfig `yaml:"http"`
	// DNS: its upstreams resolve every lookup of the process.
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
	// AllowOpenAccess accepts allow_clients that take in every address
	// (0.0.0.0/0, ::/0) on a listener that may face the internet (see
	// validateOpenAccess): without it that is a config error.
	AllowOpenAccess bool `yaml:"allow_open_access"`
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
	// UpstreamTimeout is how long a server may take to start answering
	// before the client gets a 504; 0 means the proxy's default.
	UpstreamTimeout duration `yaml:"upstream_timeout"`
}

// DNSConfig is the dns: section.
type DNSConfig struct {
	// Listen is the resolver's address (UDP and TCP); "off" disables it.
	Listen string `yaml:"listen"`
	// AllowClients are the networks answered; others get REFUSED.
	AllowClients []string `yaml:"allow_clients"`
	// AllowOpenAccess: as HTTPConfig.AllowOpenAccess, for an open resolver.
	AllowOpenAccess bool `yaml:"allow_open_access"`
	// Upstreams: host:port, udp://, tcp://, tls://, https://. Every
	// lookup of the process goes to them (the proxy's upstream hosts, list
	// downloads). Default: the system's resolvers from /etc/resolv.conf.
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
