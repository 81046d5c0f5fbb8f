package proxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
)

// The standard library's resolver reports the servers of /etc/resolv.conf
// in a failed lookup's DNSError, even when its Dial sent the query to one
// of TransportOptions.Resolvers. The note below carries the server really
// asked from the transport's resolver (newResolver) to the error page.

// resolverNote records which DNS server a dial's lookup went to: the
// transport's resolver writes it, the error page reads it. Lookups shared
// with a concurrent dial of the same name leave it empty.
type resolverNote struct{ server atomic.Pointer[string] }

type resolverNoteKey struct{}

func noteResolver(ctx context.Context, server string) {
	if n, ok := ctx.Value(resolverNoteKey{}).(*resolverNote); ok {
		n.server.Store(&server)
	}
}

// resolverError is a failed lookup with the DNS server that was asked.
type resolverError struct {
	server string
	err    error
}

func (e *resolverError) Error() string { return e.err.Error() }
func (e *resolverError) Unwrap() error { return e.err }

// notingDial wraps a dial so that a lookup failure names the server asked
// (or, when that is not known, the configured ones) instead of the system
// resolver the standard library reports.
func notingDial(dial func(context.Context, string, string) (net.Conn, error), servers []string) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n := new(resolverNote)
		c, err := dial(context.WithValue(ctx, resolverNoteKey{}, n), network, addr)
		var dnsErr *net.DNSError
		if err != nil && errors.As(err, &dnsErr) {
			server := strings.Join(servers, ", ")
			if p := n.server.Load(); p != nil {
				server = *p
			}
			return nil, &resolverError{server: server, err: err}
		}
		return c, err
	}
}

// resolverAsked names the DNS server a failed lookup went to: the one
// notingDial recorded, else the error's own Server (which a Resolver that
// names its upstreams fills in), else the system resolver.
func resolverAsked(err error, dnsErr *net.DNSError) string {
	var re *resolverError
	switch {
	case errors.As(err, &re) && re.server != "":
		return re.server
	case dnsErr.Server != "":
		return dnsErr.Server
	}
	return "the system resolver"
}
