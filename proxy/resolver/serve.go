package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// tcpIdle is how long a TCP connection may wait for its next query.
const tcpIdle = 10 * time.Second

// Listen binds UDP and TCP on the same address; port 0 picks one that is
// free for both. An address that is taken or needs privileges gives a
// *ListenError that says what holds it and how to free it.
func (s *Server) Listen(addr string) (udp net.PacketConn, tcp net.Listener, err error) {
	for attempt := 0; attempt < 10; attempt++ {
		udp, err = listenUDPShared(addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: %w", ExplainListen(addr, err))
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
	return nil, nil, fmt.Errorf("dns: %w", ExplainListen(addr, err))
}

// Serve answers queries on the listeners until ctx is done, then shuts
// down, letting queries in flight finish.
//
// UDP is read by one socket per core sharing the port (SO_REUSEPORT, where
// the system has it): a single reader caps the rate at what one goroutine
// can receive. On Linux each socket has a worker of our own (udp_linux.go);
// elsewhere dns.Server reads it.
func (s *Server) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	pcs := []net.PacketConn{udp}
	if sharedUDP {
		for range runtime.GOMAXPROCS(0) - 1 {
			pc, err := listenUDPShared(udp.LocalAddr().String())
			if err != nil {
				s.log.Debug("resolver: no extra UDP socket; one reader serves", "err", err)
				break
			}
			pcs = append(pcs, pc)
		}
	}
	errc := make(chan error, len(pcs)+1)
	var (
		stops []func(context.Context) error
		slow  sync.WaitGroup // the fast path's hand-offs
		// workers are the fast path's readers: they start hand-offs, so
		// waiting for those begins once they have returned (a WaitGroup's
		// Add must not race its Wait).
		workers sync.WaitGroup
	)
	start := func(srv *dns.Server) {
		go func() { errc <- srv.ActivateAndServe() }()
		stops = append(stops, srv.ShutdownContext)
	}
	// A TCP connection takes any number of queries (miekg/dns closes one
	// after 128 by default, resetting clients that pipeline more): it
	// ends when idle for tcpIdle, as RFC 7766 section 6.2.3 advises.
	start(&dns.Server{Listener: tcp, Handler: s, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		IdleTimeout: func() time.Duration { return tcpIdle }, MaxTCPQueries: -1})
	for _, pc := range pcs {
		if u, ok := newUDPConn(pc); ok {
			s.fastUDP.Store(true)
			workers.Add(1)
			go func() {
				defer workers.Done()
				errc <- s.serveUDP(u, &slow)
			}()
			stops = append(stops, func(context.Context) error { return pc.Close() })
			continue
		}
		start(&dns.Server{PacketConn: pc, Handler: s, UDPSize: ednsSize})
	}
	shutdown := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, stop := range stops {
			errs = append(errs, stop(sctx))
		}
		done := make(chan struct{})
		go func() {
			workers.Wait() // they return once their socket is closed
			slow.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-sctx.Done():
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
