package resolver

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pixelwall/pixelwall/blocklist"
)

// TestListenAddressTakenNamesTheHolder holds a port itself (UDP or TCP) and
// starts a DNS server on it: the error must name the process holding the
// port (this test binary) and what to do, not only "address already in
// use".
func TestListenAddressTakenNamesTheHolder(t *testing.T) {
	s, err := New(Options{Policy: staticPolicy(blocklist.Compile()), Upstreams: []Upstream{plain(t, "127.0.0.1:1")}})
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The kernel's command name is the executable's first 15 bytes.
	comm := filepath.Base(self)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			var addr string
			if network == "udp" {
				pc, err := net.ListenPacket("udp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				addr = pc.LocalAddr().String()
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				addr = ln.Addr().String()
			}
			udp, tcp, err := s.Listen(addr)
			if err == nil {
				udp.Close()
				tcp.Close()
				t.Skipf("%s was bound although %s held it (the UDP port was free for TCP, or the reverse, on this system)", addr, network)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("Listen(%s) = %v, want EADDRINUSE", addr, err)
			}
			var le *ListenError
			if !errors.As(err, &le) {
				t.Fatalf("Listen(%s) = %v, want a *ListenError", addr, err)
			}
			msg := err.Error()
			t.Logf("message:\n%s", msg)
			for _, want := range []string{"held by: " + comm, "pid " + strconv.Itoa(os.Getpid()), addr + "/" + network, "fix: stop " + comm} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
		})
	}
}

func TestInUseFix(t *testing.T) {
	for _, tc := range []struct {
		name    string
		holders []PortHolder
		want    string
	}{
		{"resolved", []PortHolder{{PID: 512, Name: "systemd-resolved", User: "systemd-resolve", Addr: "127.0.0.53:53", Net: "udp"}}, "DNSStubListener=no"},
		{"resolved unseen", []PortHolder{{User: "systemd-resolve", Addr: "127.0.0.54:53", Net: "tcp"}}, "/etc/systemd/resolved.conf.d/pixelwall.conf"},
		{"dnsmasq", []PortHolder{{PID: 9, Name: "dnsmasq", User: "dnsmasq", Addr: "192.168.122.1:53", Net: "udp"}}, "systemctl disable --now dnsmasq"},
		{"pixelwall", []PortHolder{{PID: 77, Name: "pixelwall", User: "root", Addr: "0.0.0.0:53", Net: "udp"}}, "another pixelwall (pid 77)"},
		{"unseen", []PortHolder{{User: "bind", Addr: "0.0.0.0:53", Net: "udp"}}, "run as root"},
		{"nothing found", nil, "stop what listens on 0.0.0.0:53"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inUseFix("0.0.0.0:53", tc.holders); !strings.Contains(got, tc.want) {
				t.Errorf("inUseFix(%v) = %q, want it to contain %q", tc.holders, got, tc.want)
			}
		})
	}
}
