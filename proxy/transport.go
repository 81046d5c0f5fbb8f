package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// TransportOptions configure NewTransport.
type TransportOptions struct {
	// Resolvers are DNS servers (host:port) used to resolve upstream hosts,
	// tried in order; empty means the system resolver.
	Resolvers []string
	// RootCAs verify upstream certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// DialTimeout defaults to 10 s. ResponseHeaderTimeout, how long a
	// server may take to start its answer before the client gets a 504,
	// defaults to 30 s.
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
}

// NewTransport makes the upstream transport: verified TLS, HTTP/2 where
// the server offers it, timeouts, a keep-alive pool, and names resolved
// through Resolvers when given. It never uses the environment's proxy.
func NewTransport(o TransportOptions) *http.Transport {
	if o.DialTimeout == 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.ResponseHeaderTimeout == 0 {
		o.ResponseHeaderTimeout = 30 * time.Second
	}
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	dial := d.DialContext
	if len(o.Resolvers) > 0 {
		d.Resolver = newResolver(o.Resolvers, o.DialTimeout)
		dial = notingDial(d.DialContext, o.Resolvers)
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSClientConfig:       &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// The client's own Accept-Encoding goes upstream as it is: without
		// this, a request without one would be sent asking for gzip and the
		// answer unpacked here, costing CPU for nothing.
		DisableCompression: true,
	}
}

// newResolver resolves through the given DNS servers, starting with the
// one that last answered and moving on when one fails.
func newResolver(servers []string, timeout time.Duration) *net.Resolver {
	var next atomic.Uint32
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			start := int(next.Load())
			var errs []error
			for i := range servers {
				k := (start + i) % len(servers)
				c, err := d.DialContext(ctx, network, servers[k])
				if err == nil {
					next.Store(uint32(k))
					noteResolver(ctx, servers[k])
					return c, nil
				}
				errs = append(errs, err)
			}
			return nil, errors.Join(errs...)
		},
	}
}
