package resolver

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// ResolvConf is where the system's resolvers are read from.
const ResolvConf = "/etc/resolv.conf"

// SystemUpstreams are the nameservers of a resolv.conf file (host:port),
// leaving out self, the resolver's own listen address.
func SystemUpstreams(path, self string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("no upstreams configured and the system resolvers are unknown: %w", err)
	}
	var out []string
	for _, s := range cc.Servers {
		addr := net.JoinHostPort(strings.SplitN(s, "%", 2)[0], cc.Port)
		if !isSelf(addr, self) {
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no upstreams configured and %s lists no nameserver other than pixelwall", path)
	}
	return out, nil
}

// ListenAddrs are the addresses pixelwall.internal resolves to for a
// listener on listen: its own address, or for a wildcard listener this
// host's unicast addresses.
func ListenAddrs(listen string) []netip.Addr {
	host, _, _ := net.SplitHostPort(listen)
	if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
		return []netip.Addr{a}
	}
	var out []netip.Addr
	ifaddrs, _ := net.InterfaceAddrs()
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().IsGlobalUnicast() {
			out = append(out, p.Addr())
		}
	}
	if len(out) == 0 {
		out = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	return out
}

// isSelf says whether a nameserver at addr is the resolver listening on
// self: the same address, or for a wildcard listener any of this host's
// own addresses (loopback included) on its port.
func isSelf(addr, self string) bool {
	if addr == self {
		return true
	}
	a, err1 := netip.ParseAddrPort(addr)
	l, err2 := netip.ParseAddrPort(self)
	if err1 != nil || err2 != nil || a.Port() != l.Port() {
		return false
	}
	if !l.Addr().IsUnspecified() {
		return a.Addr().Unmap() == l.Addr().Unmap()
	}
	if a.Addr().IsLoopback() || a.Addr().IsUnspecified() {
		return true
	}
	ifaddrs, _ := net.InterfaceAddrs()
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr() == a.Addr().Unmap() {
			return true
		}
	}
	return false
}
