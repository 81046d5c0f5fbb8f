package proxy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// netns is a network namespace joined to this one by a veth pair: a
// machine on the LAN. HostIP is this side's address (the proxy listens
// there), PeerIP the namespace's (the LAN client and a LAN origin).
type netns struct {
	name           string
	HostIP, PeerIP string
}

// newNetns makes a namespace for the test, removed when it ends. It skips
// the test when it cannot (not root, no ip command).
func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace (ip netns add)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to make a network namespace")
	}
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	// A /24 in 10.200/16 that no interface here uses (other tests may
	// hold some).
	var subnet int
	for range 50 {
		n := 1 + rand.IntN(254)
		out, err := exec.Command("ip", "-4", "addr", "show", "to", fmt.Sprintf("10.200.%d.0/24", n)).Output()
		if err == nil && len(strings.TrimSpace(string(out))) == 0 {
			subnet = n
			break
		}
	}
	if subnet == 0 {
		t.Fatal("no free 10.200.x.0/24 for the test namespace")
	}
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, subnet)
	n := &netns{name: "pwtest" + id, HostIP: fmt.Sprintf("10.200.%d.1", subnet), PeerIP: fmt.Sprintf("10.200.%d.2", subnet)}
	host, peer := "pwh"+id, "pwn"+id
	if err := ip("netns", "add", n.name); err != nil {
		t.Skipf("cannot make a network namespace here: %v", err)
	}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", n.name).Run() // takes the veth pair with it
		exec.Command("ip", "link", "del", host).Run()
	})
	for _, args := range [][]string{
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", n.name},
		{"addr", "add", n.HostIP + "/24", "dev", host},
		{"link", "set", host, "up"},
		{"-n", n.name, "addr", "add", n.PeerIP + "/24", "dev", peer},
		{"-n", n.name, "link", "set", peer, "up"},
		{"-n", n.name, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// in runs f on a thread inside the namespace; sockets f opens belong to
// it. The thread is never returned to the scheduler: it ends with f.
func (n *netns) in(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread exits with the goroutine
		fd, err := unix.Open("/var/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// DialContext connects from inside the namespace.
func (n *netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.in(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// listen listens inside the namespace on its address, closed when the
// test ends.
func (n *netns) listen(t *testing.T) net.Listener {
	t.Helper()
	var l net.Listener
	if err := n.in(func() (err error) {
		l, err = net.Listen("tcp", n.PeerIP+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
