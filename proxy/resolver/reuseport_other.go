//go:build !unix

package resolver

import "net"

// listenUDPShared is a plain UDP socket where SO_REUSEPORT is not available.
func listenUDPShared(addr string) (net.PacketConn, error) { return net.ListenPacket("udp", addr) }

const sharedUDP = false
