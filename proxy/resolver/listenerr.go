package resolver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// ListenError is a listen address that could not be bound, with what holds
// it (when the system tells: see portHolders) and how to free it. It wraps
// the system's error, so errors.Is(err, syscall.EADDRINUSE) still holds.
type ListenError struct {
	Addr string
	// Holders are the sockets that hold the port; a PID of 0 means the
	// process could not be seen (another user's, without root).
	Holders []PortHolder
	// Fix says what to do, in one or more lines; empty when nothing useful
	// can be said.
	Fix string
	Err error
}

// PortHolder is one socket bound to a port that a listener wanted.
type PortHolder struct {
	PID  int
	Name string // the process's name, e.g. "systemd-resolved"; "" when unknown
	User string // its owner's user name (or uid)
	Addr string // the address it is bound to, e.g. 127.0.0.53:53
	Net  string // udp or tcp
}

func (h PortHolder) String() string {
	switch {
	case h.PID != 0:
		return fmt.Sprintf("%s (pid %d, user %s) on %s/%s", h.Name, h.PID, h.User, h.Addr, h.Net)
	case h.User != "":
		return fmt.Sprintf("a process of user %s on %s/%s (run as root to see which)", h.User, h.Addr, h.Net)
	}
	return fmt.Sprintf("a socket on %s/%s", h.Addr, h.Net)
}

func (e *ListenError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if len(e.Holders) > 0 {
		b.WriteString("\n  held by: ")
		for i, h := range e.Holders {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(h.String())
		}
	}
	if e.Fix != "" {
		b.WriteString("\n  fix: ")
		b.WriteString(strings.ReplaceAll(e.Fix, "\n", "\n       "))
	}
	return b.String()
}

func (e *ListenError) Unwrap() error { return e.Err }

// ExplainListen turns a failure to bind addr into a *ListenError that
// says what holds the port and how to free it, or what privilege is
// missing; other errors come back as they are.
func ExplainListen(addr string, err error) error {
	if err == nil {
		return nil
	}
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		holders := portHolders(addr)
		return &ListenError{Addr: addr, Holders: holders, Fix: inUseFix(addr, holders), Err: err}
	case (errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)) && port > 0 && port < 1024:
		return &ListenError{Addr: addr, Err: err, Fix: "ports below 1024 need root or the CAP_NET_BIND_SERVICE capability:\n" +
			"`pixelwall service install` runs pixelwall with only that capability;\n" +
			"or listen on a high port (-dns 127.0.0.1:5353)"}
	}
	return err
}

// stubAddrs are systemd-resolved's stub listeners.
var stubAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.53"), netip.MustParseAddr("127.0.0.54")}

// inUseFix says how to free the port from the holders found.
func inUseFix(addr string, holders []PortHolder) string {
	for _, h := range holders {
		ap, _ := netip.ParseAddrPort(h.Addr)
		if h.Name == "systemd-resolved" || h.PID == 0 && ap.IsValid() && (ap.Addr() == stubAddrs[0] || ap.Addr() == stubAddrs[1]) {
			return "systemd-resolved's stub listener holds port " + strconv.Itoa(int(ap.Port())) + "; turn it off and point the system at the real upstreams:\n" +
				"sudo mkdir -p /etc/systemd/resolved.conf.d\n" +
				"printf '[Resolve]\\nDNSStubListener=no\\n' | sudo tee /etc/systemd/resolved.conf.d/pixelwall.conf\n" +
				"sudo ln -sf /run/systemd/resolve/resolv.conf /etc/resolv.conf\n" +
				"sudo systemctl restart systemd-resolved"
		}
	}
	for _, h := range holders {
		switch {
		case h.Name == "dnsmasq":
			return "dnsmasq holds the port: stop it (sudo systemctl disable --now dnsmasq), or set port=0 in its\n" +
				"configuration if only its DHCP server is wanted; a dnsmasq bound to one address only (libvirt's)\n" +
				"leaves the others: give pixelwall a specific address of this host (dns.listen: 192.168.1.10:53)"
		case strings.HasPrefix(h.Name, "pixelwall"):
			return fmt.Sprintf("another pixelwall (pid %d) is running: stop it (pixelwall service stop, or end pid %d),\n"+
				"or give this one another address (-dns ADDR or dns.listen)", h.PID, h.PID)
		case h.Name != "":
			return fmt.Sprintf("stop %s (pid %d), or give pixelwall another address (-dns ADDR or dns.listen)", h.Name, h.PID)
		}
	}
	if len(holders) > 0 {
		return "run as root to see which process holds it, or give pixelwall another address (-dns ADDR or dns.listen)"
	}
	return "give pixelwall another address (-dns ADDR or dns.listen), or stop what listens on " + addr
}
