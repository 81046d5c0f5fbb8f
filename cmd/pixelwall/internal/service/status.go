package service

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// Status prints the service's state, the listeners (and whether each
// accepts a connection), each downloaded list's last success or failure,
// and the block log's size.
func (in *Installer) Status(version string) error {
	l, w := in.Layout, in.Out
	state, err := in.Manager.Status()
	if err != nil {
		fmt.Fprintf(w, "service: %s (%v)\n", state, err)
	} else {
		fmt.Fprintf(w, "service: %s (%s)\n", state, in.Manager.Platform())
	}
	fmt.Fprintf(w, "binary:  %s\n", version)
	fmt.Fprintf(w, "config:  %s\n", l.ConfigFile)
	fmt.Fprintf(w, "data:    %s\n", l.DataDir)
	st, err := in.Settings(l.path(l.ConfigFile))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "listeners:")
	for _, ln := range st.Listeners {
		fmt.Fprintf(w, "  %-11s %-22s %s\n", ln.Name, ln.Addr, probe(ln.Addr))
	}
	if len(st.URLLists) > 0 {
		fmt.Fprintln(w, "lists:")
		f := blocklist.Fetcher{Dir: filepath.Join(l.path(l.DataDir), "lists")}
		for _, name := range st.URLLists {
			fmt.Fprintf(w, "  %-11s %s\n", name, listHealth(f, name))
		}
	}
	fmt.Fprintf(w, "log:     %s, %s\n", st.LogPath, logSize(l.path(st.LogPath)))
	return nil
}

// probe says whether something accepts TCP connections at a listen
// address (a wildcard is tried on loopback).
func probe(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err == nil && ap.Addr().IsUnspecified() {
		lo := netip.MustParseAddr("127.0.0.1")
		if ap.Addr().Is6() {
			lo = netip.IPv6Loopback()
		}
		addr = netip.AddrPortFrom(lo, ap.Port()).String()
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "not answering"
	}
	c.Close()
	return "answering"
}

// listHealth is a list's last download and, when the last attempt failed,
// why.
func listHealth(f blocklist.Fetcher, name string) string {
	m, ok := f.Meta(name)
	if !ok {
		if _, err := os.Stat(f.Dir); err != nil && !os.IsNotExist(err) {
			return fmt.Sprintf("unknown (%v; run as root)", err)
		}
		return "never downloaded"
	}
	s := fmt.Sprintf("updated %s, checked %s, %d rules", stamp(m.Updated), stamp(m.Checked), m.Rules)
	if m.LastError != "" {
		s += ", LAST CHECK FAILED: " + m.LastError
	} else {
		s += ", ok"
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// logSize is the SQLite file's size with its write-ahead log.
func logSize(path string) string {
	var total int64
	found := false
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		switch {
		case err == nil:
			total += fi.Size()
			found = true
		case os.IsPermission(err):
			return "unknown (run as root)"
		}
	}
	if !found {
		return "not created yet"
	}
	return humanBytes(total)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
