package service

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// Settings are what the status and the next steps need from a config.
type Settings struct {
	// Listeners are the enabled listeners, in order (http proxy, dns,
	// dashboard).
	Listeners []Listener
	// URLLists are the names of the lists downloaded from a URL.
	URLLists []string
	// LogPath is the block log's SQLite file.
	LogPath string
}

// Listener is one configured listener.
type Listener struct {
	Name string // "http proxy", "dns", "dashboard"
	Addr string
}

func (s Settings) listener(name string) (string, bool) {
	for _, l := range s.Listeners {
		if l.Name == name {
			return l.Addr, true
		}
	}
	return "", false
}

// Installer installs, removes and reports on the service.
type Installer struct {
	Layout  Layout
	Manager Manager
	// Settings reads a config file (given as the service sees its path,
	// prefixed with Layout.Root).
	Settings func(configFile string) (Settings, error)
	// Addrs are this host's interface addresses (InterfaceAddrs).
	Addrs func() ([]netip.Prefix, error)
	// CheckDNS binds the DNS address briefly before the service starts, to
	// report a taken port here rather than in the service's log; nil skips
	// the check.
	CheckDNS func(addr string) error
	Out      io.Writer
}

// Install writes the config (unless one exists) and the data dir, installs
// and starts the service, and prints the next steps. A DNS address that is
// taken leaves the service installed but stopped, with the reason and the
// fix.
func (in *Installer) Install() error {
	l := in.Layout
	if runtime.GOOS == "linux" {
		if err := checkExecutable(l.Executable); err != nil {
			return err
		}
	}
	addrs, err := in.Addrs()
	if err != nil {
		return fmt.Errorf("this host's addresses: %w", err)
	}
	cfgPath := l.path(l.ConfigFile)
	switch _, err := os.Stat(cfgPath); {
	case err == nil:
		fmt.Fprintf(in.Out, "keeping the existing config %s\n", l.ConfigFile)
	case errors.Is(err, fs.ErrNotExist):
		own := make([]netip.Addr, len(addrs))
		for i, p := range addrs {
			own[i] = p.Addr()
		}
		ups := SystemUpstreams(l.path("/"), own)
		if err := writeNew(cfgPath, ConfigYAML(l, PrivateNetworks(addrs), ups)); err != nil {
			return err
		}
		upsText := "the system's resolvers at each start"
		if len(ups) > 0 {
			upsText = strings.Join(ups, ", ")
		}
		fmt.Fprintf(in.Out, "wrote %s (serving %s; upstreams: %s)\n", l.ConfigFile, networksText(PrivateNetworks(addrs)), upsText)
	default:
		return err
	}
	st, err := in.Settings(cfgPath)
	if err != nil {
		return err
	}
	data := l.path(l.DataDir)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(data, 0o700); err != nil {
		return err
	}
	if err := in.Manager.Install(); err != nil {
		return fmt.Errorf("install the %s service: %w", in.Manager.Platform(), err)
	}
	fmt.Fprintf(in.Out, "installed the %s service (%s), enabled at boot\n", Name, in.Manager.Platform())
	if dns, ok := st.listener("dns"); ok && in.CheckDNS != nil {
		if err := in.CheckDNS(dns); err != nil {
			fmt.Fprintf(in.Out, "\nnot started: %v\nthen: sudo pixelwall service start\n", err)
			return nil
		}
	}
	if err := in.Manager.Start(); err != nil {
		return fmt.Errorf("start the service: %w", err)
	}
	fmt.Fprintf(in.Out, "started\n\n")
	in.nextSteps(st, hostAddrs(addrs))
	return nil
}

// writeNew creates path (and its directory) with text; it never replaces a
// file.
func writeNew(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// World-readable: the service's user is not root, and the config holds
	// no secret (the dashboard's password is stored hashed).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func networksText(n []netip.Prefix) string {
	if len(n) == 0 {
		return "this host only: no private network found; add yours to allow_clients"
	}
	s := make([]string, len(n))
	for i, p := range n {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// nextSteps tells what to set where, with this host's addresses.
func (in *Installer) nextSteps(st Settings, hosts []netip.Addr) {
	w := in.Out
	host := "<this host's address>"
	if len(hosts) > 0 {
		host = hosts[0].String()
	}
	others := ""
	if len(hosts) > 1 {
		s := make([]string, len(hosts)-1)
		for i, a := range hosts[1:] {
			s[i] = a.String()
		}
		others = " (also reachable at " + strings.Join(s, ", ") + ")"
	}
	fmt.Fprintf(w, "Next steps — this host is %s%s:\n", host, others)
	n := 1
	if dns, ok := st.listener("dns"); ok {
		fmt.Fprintf(w, "%d. DNS for the whole network: in your router's DHCP settings, set the DNS server to %s.\n", n, hostPort(dns, host, "53"))
		fmt.Fprintf(w, "   Check from another machine: dig @%s px.ads.linkedin.com answers 0.0.0.0 (blocked); dig @%s example.com answers\n", host, host)
		n++
	}
	if proxy, ok := st.listener("http proxy"); ok {
		hp := hostPort(proxy, host, "")
		fmt.Fprintf(w, "%d. Pixels inside HTTPS pages, per device: set its proxy to %s, or automatic proxy\n", n, hp)
		fmt.Fprintf(w, "   configuration to http://%s/proxy.pac\n", hp)
		n++
		fmt.Fprintf(w, "%d. On those devices, install this install's CA from http://%s/ (the page says how, per system)\n", n, hp)
		n++
	}
	if dash, ok := st.listener("dashboard"); ok {
		fmt.Fprintf(w, "%d. Dashboard: http://%s/ (on this host)\n", n, dash)
	}
	if runtime.GOOS == "linux" {
		fmt.Fprintf(w, "Status: sudo pixelwall service status   Logs: journalctl -u %s   Reload lists: sudo systemctl reload %s\n", Name, Name)
	} else {
		fmt.Fprintln(w, "Status: pixelwall service status (as an administrator)")
	}
}

// hostPort is listen's address as clients reach it: a wildcard becomes
// host; the port is left out when it is omit.
func hostPort(listen, host, omit string) string {
	h, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if a, err := netip.ParseAddr(h); err == nil && !a.IsUnspecified() || h != "" && err != nil {
		host = h
	}
	if port == omit {
		return host
	}
	return net.JoinHostPort(host, port)
}

// Uninstall stops and removes the service. The config and the data dir
// (the CA, whose certificate devices trust, and the block log) stay unless
// purge.
func (in *Installer) Uninstall(purge bool) error {
	l := in.Layout
	st, err := in.Manager.Status()
	if err != nil {
		return fmt.Errorf("service status: %w", err)
	}
	if st == StateNotInstalled {
		fmt.Fprintf(in.Out, "the %s service is not installed\n", Name)
	} else {
		if st == StateRunning {
			if err := in.Manager.Stop(); err != nil {
				return fmt.Errorf("stop the service: %w", err)
			}
		}
		if err := in.Manager.Uninstall(); err != nil {
			return fmt.Errorf("uninstall the service: %w", err)
		}
		fmt.Fprintf(in.Out, "removed the %s service\n", Name)
	}
	if !purge {
		fmt.Fprintf(in.Out, "kept %s and %s (the CA and the block log); `service uninstall -purge` removes them\n", l.ConfigFile, l.DataDir)
		return nil
	}
	dirs := []string{l.path(l.DataDir)}
	if state, ok := l.stateDirectory(); ok && runtime.GOOS == "linux" {
		// Where systemd keeps a DynamicUser's state; DataDir is a link to it.
		dirs = append(dirs, l.path(filepath.Join("/var/lib/private", state)))
	}
	if filepath.Base(filepath.Dir(l.ConfigFile)) == Name {
		dirs = append(dirs, l.path(filepath.Dir(l.ConfigFile)))
	} else {
		dirs = append(dirs, l.path(l.ConfigFile))
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	fmt.Fprintf(in.Out, "removed %s and %s\n", l.ConfigFile, l.DataDir)
	return nil
}

// CheckDNS binds addr for UDP and TCP and lets go again: whether the
// service will be able to. A taken port is explained (what holds it, and
// the fix).
func CheckDNS(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return resolver.ExplainListen(addr, err)
	}
	defer pc.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return resolver.ExplainListen(addr, err)
	}
	return ln.Close()
}
