//go:build !linux

package resolver

import (
	"net"
	"sync"
)

// Elsewhere than Linux, dns.Server reads UDP (see udp_linux.go).

type udpConn struct{}

func newUDPConn(net.PacketConn) (*udpConn, bool) { return nil, false }

func (s *Server) serveUDP(*udpConn, *sync.WaitGroup) error { return nil }
