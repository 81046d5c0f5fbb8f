package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/miekg/dns"
)

// Listen binds UDP and TCP on the same address; port 0 picks one that is
// free for both.
func (s *Server) Listen(addr string) (udp net.PacketConn, tcp net.Listener, err error) {
	for attempt := 0; attempt < 10; attempt++ {
		udp, err = listenUDPShared(addr)
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
//
// UDP is read by one socket per core sharing the port (SO_REUSEPORT, where
// the system has it): a single reader caps the rate at what one goroutine
// can receive.
func (s *Server) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	servers := []*dns.Server{
		{PacketConn: udp, Handler: s, UDPSize: ednsSize},
		{Listener: tcp, Handler: s, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }},
	}
	if sharedUDP {
		for range runtime.GOMAXPROCS(0) - 1 {
			pc, err := listenUDPShared(udp.LocalAddr().String())
			if err != nil {
				s.log.Debug("resolver: no extra UDP socket; one reader serves", "err", err)
				break
			}
			servers = append(servers, &dns.Server{PacketConn: pc, Handler: s, UDPSize: ednsSize})
		}
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	shutdown := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, srv := range servers {
			errs = append(errs, srv.ShutdownContext(sctx))
		}
		return errors.Join(errs...)
	}
	select {
	case err := <-errc:
		shutdown()
		return err
	case <-ctx.Done():
		return shutdown()
	}
}
