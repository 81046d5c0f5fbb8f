package service

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// loopback is always served: the host itself.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// PrivateNetworks are the private networks (RFC 1918, RFC 4193) among a
// host's interface addresses, masked to their networks, sorted, without
// repeats: the home network a home server serves.
func PrivateNetworks(addrs []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range addrs {
		a := p.Addr().Unmap()
		if !a.IsPrivate() {
			continue
		}
		n := netip.PrefixFrom(a, p.Bits()).Masked()
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

// InterfaceAddrs are the addresses of this host's interfaces that are up,
// loopback left out.
func InterfaceAddrs() ([]netip.Prefix, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// hostAddrs are the private addresses clients on the home network reach
// this host at, IPv4 first.
func hostAddrs(addrs []netip.Prefix) []netip.Addr {
	var out []netip.Addr
	for _, p := range addrs {
		if a := p.Addr().Unmap(); a.IsPrivate() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b netip.Addr) int {
		switch {
		case a.Is4() && !b.Is4():
			return -1
		case !a.Is4() && b.Is4():
			return 1
		}
		return 0
	})
	return out
}

// SystemUpstreams are the resolvers this host uses, from root's
// /etc/resolv.conf, or from systemd-resolved's list of its real upstreams
// when resolv.conf names only its stub; loopback addresses and the host's
// own (own) are left out. A home server that takes its DNS server from
// the router's DHCP would otherwise, once the router hands out the server
// itself, forward every query to itself.
func SystemUpstreams(root string, own []netip.Addr) []string {
	var out []string
	for _, file := range []string{"etc/resolv.conf", "run/systemd/resolve/resolv.conf"} {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "nameserver" {
				continue
			}
			a, err := netip.ParseAddr(f[1])
			if err != nil || a.IsLoopback() || a.IsUnspecified() || a.Zone() != "" || slices.Contains(own, a) {
				continue
			}
			if s := a.String(); !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

// ConfigYAML is the config `service install` writes: every service on all
// addresses, answering only loopback and the given networks, forwarding to
// upstreams (when none: the system's at each start), the data dir of the
// layout, EasyPrivacy on top of the embedded lists. The dashboard stays on
// loopback: it needs a password before it may listen wider.
func ConfigYAML(l Layout, networks []netip.Prefix, upstreams []string) string {
	allow := append(slices.Clone(loopback), networks...)
	quoted := make([]string, len(allow))
	for i, p := range allow {
		quoted[i] = `"` + p.String() + `"`
	}
	list := "[" + strings.Join(quoted, ", ") + "]"
	var noNet string
	if len(networks) == 0 {
		noNet = "# No private network was found on this host's interfaces: add yours to\n# both allow_clients (e.g. \"192.168.1.0/24\").\n"
	}
	return `# pixelwall's configuration, written by ` + "`pixelwall service install`" + `.
# Every key, with its default, is described in config.example.yaml in
# pixelwall's source. After an edit: ` + "`sudo systemctl reload pixelwall`" + ` for
# lists, allow and deny; ` + "`sudo systemctl restart pixelwall`" + ` for the rest.
` + noNet + `
data_dir: ` + l.DataDir + `

# The HTTP/HTTPS proxy, for the devices set to use it (or its PAC file at
# http://<this host>:8080/proxy.pac). Only allow_clients are served.
http:
  listen: 0.0.0.0:8080
  allow_clients: ` + list + `

# The DNS resolver: set this host as the DNS server in the router's DHCP
# settings. Only allow_clients are answered (never an open resolver).
` + upstreamsText(upstreams) + `
dns:
  listen: 0.0.0.0:53
  allow_clients: ` + list + upstreamsKey(upstreams) + `

# The dashboard: on this host only. To open it to the network, set
# password_hash (from ` + "`pixelwall dashboard password`" + `) and listen: 0.0.0.0:8081.
dashboard:
  listen: 127.0.0.1:8081

lists:
  - name: easyprivacy
    url: https://easylist.to/easylist/easyprivacy.txt
`
}

func upstreamsText(ups []string) string {
	if len(ups) == 0 {
		return "# Upstreams: the system's resolvers from /etc/resolv.conf at each start;\n" +
			"# set e.g. upstreams: [\"tls://1.1.1.1:853#one.one.one.one\"] for DNS over TLS."
	}
	return "# Upstreams: the resolvers this host used at install (never itself); use\n" +
		"# e.g. [\"tls://1.1.1.1:853#one.one.one.one\"] for DNS over TLS."
}

func upstreamsKey(ups []string) string {
	if len(ups) == 0 {
		return ""
	}
	q := make([]string, len(ups))
	for i, u := range ups {
		q[i] = `"` + u + `"`
	}
	return "\n  upstreams: [" + strings.Join(q, ", ") + "]"
}
