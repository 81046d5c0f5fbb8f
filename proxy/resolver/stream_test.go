package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rawTCPServer runs serve on every connection accepted on loopback and
// counts the connections.
func rawTCPServer(t *testing.T, serve func(c *dns.Conn)) (addr string, accepted *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				serve(&dns.Conn{Conn: c})
			}()
		}
	}()
	return l.Addr().String(), accepted
}

// serveEach answers each query read from c with answer(q), sending nothing
// when that is nil, until c fails.
func serveEach(c *dns.Conn, answer func(q *dns.Msg) *dns.Msg) {
	for {
		q, err := c.ReadMsg()
		if err != nil {
			return
		}
		if m := answer(q); m != nil {
			c.WriteMsg(m)
		}
	}
}

// answerA answers q with an A record whose last byte is b.
func answerA(q *dns.Msg, b byte) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, b)}}
	return m
}

// askBurst asks n names prefix0.test. to prefix<n-1>.test. at once, and
// checks each gets an answer.
func askBurst(t *testing.T, u Upstream, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := askA(u, fmt.Sprintf("%s%d.test.", prefix, i), uint16(i)); err != nil || len(r.Answer) != 1 {
				t.Errorf("%s%d: %v %v", prefix, i, r, err)
			}
		}()
	}
	wg.Wait()
}

func askA(u Upstream, name string, id uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Id = id
	return u.Exchange(context.Background(), m)
}

// Queries asked at once share one connection, and each gets its own
// answer, also when the server answers them in another order than asked
// and when two callers chose the same ID.
func TestStreamPipelinesOutOfOrder(t *testing.T) {
	const n = 8
	addr, accepted := rawTCPServer(t, func(c *dns.Conn) {
		var qs []*dns.Msg
		for len(qs) < n {
			q, err := c.ReadMsg()
			if err != nil {
				return
			}
			qs = append(qs, q)
		}
		for i := len(qs) - 1; i >= 0; i-- { // last asked, first answered
			var b byte
			fmt.Sscanf(qs[i].Question[0].Name, "q%d.", &b)
			c.WriteMsg(answerA(qs[i], b))
		}
		serveEach(c, func(q *dns.Msg) *dns.Msg { return answerA(q, 99) }) // then one at a time
	})
	u := upstreamAt(t, "tcp://"+addr, 2*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uint16(1000 + i)
			if i < 2 {
				id = 7 // the same ID twice
			}
			name := fmt.Sprintf("q%d.test.", i)
			r, err := askA(u, name, id)
			switch {
			case err != nil:
				errs <- fmt.Errorf("%s: %v", name, err)
			case r.Id != id || r.Question[0].Name != name || r.Answer[0].(*dns.A).A.To4()[3] != byte(i):
				errs <- fmt.Errorf("%s (ID %d) got %d %v %v", name, id, r.Id, r.Question, r.Answer)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r, err := askA(u, "after.test.", 1); err != nil || r.Answer[0].(*dns.A).A.To4()[3] != 99 {
		t.Errorf("a query after the burst: %v %v", r, err)
	}
	if got := accepted.Load(); got != 1 {
		t.Errorf("%d connections for %d queries at once and one after, want 1", got, n)
	}
}

// A query the server never answers times out on its own; the others on
// the connection are answered, and the connection stays in use.
func TestStreamOneQueryTimesOut(t *testing.T) {
	addr, accepted := rawTCPServer(t, func(c *dns.Conn) {
		serveEach(c, func(q *dns.Msg) *dns.Msg {
			if q.Question[0].Name == "silent.test." {
				return nil
			}
			return answerA(q, 1)
		})
	})
	u := upstreamAt(t, "tcp://"+addr, 300*time.Millisecond)
	silent := make(chan error, 1)
	go func() {
		_, err := askA(u, "silent.test.", 1)
		silent <- err
	}()
	for i := range 3 {
		if _, err := askA(u, fmt.Sprintf("loud%d.test.", i), uint16(10+i)); err != nil {
			t.Fatalf("loud%d: %v", i, err)
		}
	}
	if err := <-silent; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("unanswered query: %v, want a timeout", err)
	}
	if _, err := askA(u, "later.test.", 20); err != nil {
		t.Errorf("after the timeout: %v", err)
	}
	if got := accepted.Load(); got != 1 {
		t.Errorf("%d connections, want 1: a timed-out query does not end the connection", got)
	}
}

// A burst of cache misses to a DoT upstream goes over one TLS connection.
func TestDoTBurstOneConnection(t *testing.T) {
	d := startDoT(t)
	u := d.upstream(t, d.pool)
	askBurst(t, u, "burst", 30)
	if got := d.accepted.Load(); got != 1 {
		t.Errorf("%d TLS connections for a burst of 30 queries, want 1", got)
	}
}

// A server that answers one query per connection and closes it (it does
// not pipeline) still answers every query of a burst: the pool goes over
// to a connection per query.
func TestStreamServerThatDoesNotPipeline(t *testing.T) {
	addr, accepted := rawTCPServer(t, func(c *dns.Conn) {
		if q, err := c.ReadMsg(); err == nil {
			time.Sleep(20 * time.Millisecond) // the others are on their way meanwhile
			c.WriteMsg(answerA(q, 5))
		}
	})
	u := upstreamAt(t, "tcp://"+addr, 2*time.Second)
	askBurst(t, u, "one", 20)
	if r, err := askA(u, "later.test.", 99); err != nil || len(r.Answer) != 1 {
		t.Errorf("a query after the burst: %v %v", r, err)
	}
	if got := accepted.Load(); got < 21 {
		t.Errorf("%d connections for 21 queries to a server that answers one per connection", got)
	}
}

// A connection lost once (a server restarting) does not make the pool give
// up pipelining: the next burst still shares one connection.
func TestStreamLostConnectionKeepsPipelining(t *testing.T) {
	var conns atomic.Int32
	addr, accepted := rawTCPServer(t, func(c *dns.Conn) {
		if conns.Add(1) == 1 {
			c.ReadMsg() // the first connection: read a query, close unanswered
			return
		}
		serveEach(c, func(q *dns.Msg) *dns.Msg { return answerA(q, 3) })
	})
	u := upstreamAt(t, "tcp://"+addr, 2*time.Second)
	askA(u, "lost.test.", 1) // fails or not; the connection is lost
	askBurst(t, u, "after", 20)
	if got := accepted.Load(); got != 2 {
		t.Errorf("%d connections: the lost one and then %d for a burst of 20, want 1 for the burst", got, got-1)
	}
}
