package proxy

import (
	"context"
	"net/http"
	"sync"

	"github.com/pixelwall/pixelwall/certs"
)

// caPair is the CA offered for download and the signer made from it.
type caPair struct {
	ca     *certs.CA
	signer *certs.Signer
}

// SetCA replaces the CA and the signer of intercepted hosts (after `ca
// regenerate`); connections already intercepted keep their certificates.
func (s *Server) SetCA(ca *certs.CA, signer *certs.Signer) {
	s.certs.Store(&caPair{ca, signer})
}

func (s *Server) signer() *certs.Signer { return s.certs.Load().signer }

// CA is the CA offered for download (nil when nothing is intercepted).
func (s *Server) CA() *certs.CA { return s.certs.Load().ca }

// innerServers are the http.Servers of intercepted connections, which the
// outer http.Server's Shutdown does not see (their connections were
// hijacked from it).
type innerServers struct {
	mu      sync.Mutex
	closing bool
	srvs    map[*http.Server]struct{}
}

// add registers srv; false when the proxy is shutting down.
func (in *innerServers) add(srv *http.Server) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closing {
		return false
	}
	if in.srvs == nil {
		in.srvs = make(map[*http.Server]struct{})
	}
	in.srvs[srv] = struct{}{}
	return true
}

func (in *innerServers) remove(srv *http.Server) {
	in.mu.Lock()
	delete(in.srvs, srv)
	in.mu.Unlock()
}

// Shutdown drains the intercepted connections: requests in flight finish,
// idle connections close, and no new connection is intercepted. Call it
// with the outer http.Server's Shutdown; it returns ctx's error when the
// grace period ends first (the remaining connections are then closed).
func (s *Server) Shutdown(ctx context.Context) error {
	s.inner.mu.Lock()
	s.inner.closing = true
	srvs := make([]*http.Server, 0, len(s.inner.srvs))
	for srv := range s.inner.srvs {
		srvs = append(srvs, srv)
	}
	s.inner.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, len(srvs))
	for _, srv := range srvs {
		wg.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
