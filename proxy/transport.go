package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// TransportOptions configure NewTransport.
type TransportOptions struct {
	// Resolver resolves upstream hosts; nil means the system resolver.
	Resolver Resolver
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
// through Resolver when given. It never uses the environment's proxy.
func NewTransport(o TransportOptions) *http.Transport {
	if o.DialTimeout == 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.ResponseHeaderTimeout == 0 {
		o.ResponseHeaderTimeout = 30 * time.Second
	}
	// dialControl checks every address connected against the
	// destinations policy of the client the dial is for.
	d := &dialer{nd: net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second, ControlContext: dialControl}, res: o.Resolver}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
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

// dialer connects to a host's addresses as res resolves them, in order,
// until one accepts.
type dialer struct {
	nd  net.Dialer
	res Resolver
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.res == nil {
		return d.nd.DialContext(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return d.nd.DialContext(ctx, network, addr)
	}
	ips, _, err := d.res.LookupHost(ctx, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var errs []error
	for _, ip := range ips {
		if network == "tcp4" && !ip.Is4() || network == "tcp6" && !ip.Is6() {
			continue
		}
		c, err := d.nd.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no address of this family", Name: host, IsNotFound: true}}
	}
	return nil, errors.Join(errs...)
}
