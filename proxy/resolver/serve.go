package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// Listen binds UDP and TCP on the same address; port 0 picks one that is
// free for both.
func (s *Server) Listen(addr string) (udp net.PacketConn, tcp net.Listener, err error) {
	for attempt := 0; attempt < 10; attempt++ {
		udp, err = net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: %w", err)
		}
		tcp, err = net.Listen("tcp", udp.LocalAddr().String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			break // a fixed port taken for TCP: say so
		}
	}
	return nil, nil, fmt.Errorf("dns: %w", err)
}

// Serve answers queries on the listeners until ctx is done, then shuts
// down, letting queries in flight finish.
func (s *Server) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	us := &dns.Server{PacketConn: udp, Handler: s, UDPSize: ednsSize}
	ts := &dns.Server{Listener: tcp, Handler: s, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
	errc := make(chan error, 2)
	go func() { errc <- us.ActivateAndServe() }()
	go func() { errc <- ts.ActivateAndServe() }()
	select {
	case err := <-errc:
		us.Shutdown()
		ts.Shutdown()
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return errors.Join(us.ShutdownContext(sctx), ts.ShutdownContext(sctx))
	}
}
