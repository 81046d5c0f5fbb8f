//go:build unix

package resolver

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenUDPShared binds a UDP socket with SO_REUSEPORT, so that several
// sockets (one per core) can share a port and the kernel spreads queries
// across their readers.
func listenUDPShared(addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(context.Background(), "udp", addr)
}

const sharedUDP = true
