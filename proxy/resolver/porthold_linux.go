package resolver

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// procRoot is where /proc is read from.
const procRoot = "/proc"

// portHolders finds the sockets bound to addr's port that conflict with it
// (the same address, or a wildcard on either side), from /proc/net, and the
// processes that hold them, from the socket links in /proc/*/fd (only the
// caller's own processes without root). It is called on a failed bind only:
// it reads every process's descriptors.
func portHolders(addr string) []PortHolder {
	want, err := netip.ParseAddrPort(addr)
	if err != nil {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil
		}
		if host != "" {
			return nil // a name: cannot compare
		}
		want = netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(p))
	}
	type sock struct {
		h     PortHolder
		inode string
	}
	var socks []sock
	for _, f := range []struct{ file, net string }{{"udp", "udp"}, {"udp6", "udp"}, {"tcp", "tcp"}, {"tcp6", "tcp"}} {
		for _, e := range readProcNet(filepath.Join(procRoot, "net", f.file)) {
			if e.local.Port() != want.Port() || f.net == "tcp" && e.state != "0A" { // 0A: LISTEN
				continue
			}
			if !e.local.Addr().IsUnspecified() && !want.Addr().IsUnspecified() && e.local.Addr().Unmap() != want.Addr().Unmap() {
				continue
			}
			socks = append(socks, sock{PortHolder{Addr: e.local.String(), Net: f.net, User: userName(e.uid)}, e.inode})
		}
	}
	if len(socks) == 0 {
		return nil
	}
	byInode := make(map[string]int, len(socks))
	for i, s := range socks {
		byInode[s.inode] = i
	}
	procs, _ := os.ReadDir(procRoot)
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(procRoot, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if i, ok := byInode[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")]; ok && socks[i].h.PID == 0 {
				socks[i].h.PID = pid
				socks[i].h.Name = processName(pid)
			}
		}
	}
	// One line per process and address: a resolver holds UDP and TCP, and
	// pixelwall one UDP socket per core.
	var out []PortHolder
	seen := map[PortHolder]bool{}
	for _, s := range socks {
		if !seen[s.h] {
			seen[s.h] = true
			out = append(out, s.h)
		}
	}
	return out
}

type procNetEntry struct {
	local netip.AddrPort
	state string
	uid   string
	inode string
}

// readProcNet parses /proc/net/{tcp,udp}{,6}: the local address is hex, the
// address in host byte order 32 bits at a time.
func readProcNet(path string) []procNetEntry {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []procNetEntry
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		ap, ok := parseProcAddr(fields[1])
		if !ok {
			continue
		}
		out = append(out, procNetEntry{local: ap, state: fields[3], uid: fields[7], inode: fields[9]})
	}
	return out
}

func parseProcAddr(s string) (netip.AddrPort, bool) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil || len(raw) != 4 && len(raw) != 16 {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	// Each 32-bit word is printed as a number in the host's byte order.
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), true
}

// processName is the process's command name; systemd-resolved's is cut to
// 15 characters by the kernel.
func processName(pid int) string {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "comm"))
	if err != nil {
		return "?"
	}
	name := strings.TrimSpace(string(b))
	if name == "systemd-resolve" {
		return "systemd-resolved"
	}
	return name
}

func userName(uid string) string {
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return "uid " + uid
}
