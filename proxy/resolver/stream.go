package resolver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// streamPool is DNS over TCP or TLS to one server, with the queries of
// every caller pipelined on one connection kept open between them (RFC
// 7766 section 6.2.1.1, RFC 7858 section 3.4): a new connection costs a
// round trip for TCP and two more for TLS, plus the handshake's CPU. A
// burst of cache misses (a page load) would otherwise open a connection
// per query. Answers may come in any order; they are matched to their
// queries by ID, which is unique among the queries open on a connection.
//
// A connection idle for streamIdleTimeout is closed. When a connection
// fails (the server closed it, or sent something unreadable), every query
// waiting on it is asked again once on a new one.
//
// Some servers do not pipeline: they answer one query and close the
// connection (RFC 7766 section 6.2.1 asks clients to cope). When a
// connection closes with queries open right after its first answer, the
// pool goes over to a connection per query for singleFor, then tries
// pipelining again. A connection lost otherwise (a server restarting, an
// idle close racing a query) is only asked again.
type streamPool struct {
	addr    string
	timeout time.Duration
	tls     *tls.Config // nil for plain TCP
	// singleUntil (Unix nanoseconds): until then, a connection per query,
	// since the server did not pipeline.
	singleUntil atomic.Int64

	mu      sync.Mutex
	cur     *stream       // the connection queries go to, or nil
	dialing chan struct{} // closed when the dial under way ends
}

// streamIdleTimeout is how long a connection with no query open is kept.
// Servers close theirs after a few seconds to a few minutes; a query that
// meets one closed by the server is asked again.
const streamIdleTimeout = 30 * time.Second

// singleFor is how long the pool keeps to a connection per query after a
// server answered one query per connection; notPipelining is how soon
// after its first answer a connection must close, queries open, to show
// that.
const (
	singleFor     = 10 * time.Minute
	notPipelining = time.Second
)

func (p *streamPool) singleMode() bool { return time.Now().UnixNano() < p.singleUntil.Load() }

// errStreamIdle ends a connection nobody used for streamIdleTimeout, and
// errStreamDone one used for a single query.
var (
	errStreamIdle = errors.New("connection idle")
	errStreamDone = errors.New("query done")
)

func newStreamPool(addr string, timeout time.Duration, tlsConfig *tls.Config) *streamPool {
	return &streamPool{addr: addr, timeout: timeout, tls: tlsConfig}
}

// stream is one connection and the queries open on it.
type stream struct {
	pool *streamPool
	conn *dns.Conn
	wmu  sync.Mutex // one writer at a time

	mu         sync.Mutex
	pending    map[uint16]*waiter // nil once failed
	err        error              // why it failed; no query starts after
	answered   int
	lastAnswer time.Time
}

// waiter is a query open on a stream; its answer, or nil when the stream
// fails, is sent once on ch.
type waiter struct {
	q  *dns.Msg
	ch chan *dns.Msg
}

// exchange asks m on the pool's connection, dialing one when there is
// none, and asks again once on a new connection if a kept one fails.
func (p *streamPool) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	for retried := false; ; retried = true {
		var (
			st     *stream
			dialed bool
			err    error
		)
		single := p.singleMode()
		if single {
			st, err = p.dial(ctx)
			if err == nil {
				defer st.fail(errStreamDone)
			}
			dialed = true
		} else {
			st, dialed, err = p.get(ctx)
		}
		if err != nil {
			return nil, err
		}
		resp, err := st.ask(ctx, m, p.timeout)
		var ne net.Error
		if err == nil || retried || ctx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
			return resp, err
		}
		if dialed && (single || !p.singleMode()) {
			return resp, err // a new connection failed, not for want of pipelining
		}
		// A kept connection failed under the query, or the server turned
		// out not to pipeline: once more.
	}
}

// get returns the open connection, or dials one (dialed is then true).
// Callers that come while a dial is under way wait for it.
func (p *streamPool) get(ctx context.Context) (st *stream, dialed bool, err error) {
	p.mu.Lock()
	for {
		if st := p.cur; st != nil && st.usable() {
			p.mu.Unlock()
			return st, false, nil
		}
		if p.dialing == nil {
			break
		}
		wait := p.dialing
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		p.mu.Lock()
	}
	done := make(chan struct{})
	p.dialing = done
	p.mu.Unlock()

	st, err = p.dial(ctx)
	p.mu.Lock()
	if err == nil {
		p.cur = st
	}
	p.dialing = nil
	close(done)
	p.mu.Unlock()
	return st, true, err
}

// dial opens a connection, TLS-verified for DoT, and starts its reader.
func (p *streamPool) dial(ctx context.Context) (*stream, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	d := &net.Dialer{}
	if p.tls != nil {
		conn, err = (&tls.Dialer{NetDialer: d, Config: p.tls}).DialContext(ctx, "tcp", p.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", p.addr)
	}
	if err != nil {
		return nil, err
	}
	st := &stream{pool: p, conn: &dns.Conn{Conn: conn}, pending: make(map[uint16]*waiter)}
	go st.read()
	return st, nil
}

func (st *stream) usable() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err == nil
}

// ask sends m on st and waits for its answer, for timeout at most. m is
// not modified: when its ID is taken on st, a copy goes with another.
func (st *stream) ask(ctx context.Context, m *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	w := &waiter{q: m, ch: make(chan *dns.Msg, 1)}
	st.mu.Lock()
	if st.err != nil {
		err := st.err
		st.mu.Unlock()
		return nil, err
	}
	id := m.Id
	for st.pending[id] != nil {
		id = dns.Id()
	}
	st.pending[id] = w
	st.mu.Unlock()

	q := m
	if id != m.Id {
		q = m.Copy()
		q.Id = id
	}
	deadline := exchangeDeadline(ctx, timeout)
	st.wmu.Lock()
	st.conn.SetWriteDeadline(deadline)
	err := st.conn.WriteMsg(q)
	st.wmu.Unlock()
	if err != nil {
		st.fail(err)
		return nil, err
	}

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case resp := <-w.ch:
		if resp == nil {
			st.mu.Lock()
			err := st.err
			st.mu.Unlock()
			return nil, err
		}
		resp.Id = m.Id
		return resp, nil
	case <-timer.C:
		err = os.ErrDeadlineExceeded // a net.Error with Timeout() true
	case <-ctx.Done():
		err = ctx.Err()
	}
	st.mu.Lock()
	if st.pending[id] == w {
		delete(st.pending, id)
	}
	st.mu.Unlock()
	return nil, err
}

// read is the connection's reader: it hands each answer to its query,
// drops answers nobody waits for (late ones), and fails the stream when
// reading fails or it has been idle for streamIdleTimeout.
func (st *stream) read() {
	for {
		st.conn.SetReadDeadline(time.Now().Add(streamIdleTimeout))
		resp, err := st.conn.ReadMsg()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = errStreamIdle
			}
			st.fail(err)
			return
		}
		st.mu.Lock()
		w := st.pending[resp.Id]
		if w != nil && sameQuestion(resp, w.q) {
			delete(st.pending, resp.Id)
			st.answered++
			st.lastAnswer = time.Now()
		} else {
			w = nil
		}
		st.mu.Unlock()
		if w != nil {
			w.ch <- resp
		}
	}
}

// fail closes st for good and wakes every query open on it.
func (st *stream) fail(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	pending := st.pending
	st.pending = nil
	answered, last := st.answered, st.lastAnswer
	st.mu.Unlock()
	if len(pending) > 0 && answered == 1 && time.Since(last) < notPipelining &&
		!errors.Is(err, os.ErrDeadlineExceeded) && err != errStreamIdle {
		// Closed under queries right after its first answer.
		st.pool.singleUntil.Store(time.Now().Add(singleFor).UnixNano())
	}
	st.conn.Close()
	for _, w := range pending {
		w.ch <- nil
	}
}
