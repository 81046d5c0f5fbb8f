package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/certs"
)

// lineOrigin writes a response line by line, each only when told to on
// next, 200 ms apart at the least, flushing each: a chunked stream (or an
// event stream, with sse). It reports each line written on wrote.
type lineOrigin struct {
	lines int
	sse   bool
	next  chan struct{}
	wrote chan int
}

func (o *lineOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o.sse {
		w.Header().Set("Content-Type", "text/event-stream")
	} else {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w).Flush()
	for i := 1; i <= o.lines; i++ {
		select {
		case <-o.next:
		case <-r.Context().Done():
			return
		}
		if i > 1 {
			time.Sleep(200 * time.Millisecond)
		}
		fmt.Fprintf(w, "line %d\n", i)
		http.NewResponseController(w).Flush()
		o.wrote <- i
	}
}

// TestStreamingResponsesArriveLineByLine: each line of a chunked (or
// event-stream) response reaches the client before the origin writes the
// next one: the origin writes line i+1 only after the client has read
// line i, so a proxy holding the body back would leave the client waiting
// for a line that never comes.
func TestStreamingResponsesArriveLineByLine(t *testing.T) {
	w := newWorld(t, worldOptions{})
	const lines = 4
	for _, tc := range []struct {
		name  string
		https bool
		sse   bool
	}{
		{"chunked over http", false, false},
		{"chunked intercepted https", true, false},
		{"event stream over http", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &lineOrigin{lines: lines, sse: tc.sse, next: make(chan struct{}), wrote: make(chan int, lines)}
			l := listen(t)
			u := "http://stream.test:" + port(l) + "/"
			if tc.https {
				signer := certs.NewSigner(w.originCA, certs.SignerOptions{})
				serveForTest(t, o, tls.NewListener(l, signer.TLSConfig("stream.test")))
				u = "https://stream.test:" + port(l) + "/"
			} else {
				serveForTest(t, o, l)
			}
			c := w.client(nil)
			c.Timeout = 0
			// The origin sends its headers before its first line, which
			// it writes only when the client asks for it below.
			c.Transport.(*http.Transport).ResponseHeaderTimeout = 10 * time.Second
			resp, err := c.Get(u)
			if err != nil {
				t.Fatalf("headers sent before the first line did not arrive: %v", err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			for i := 1; i <= lines; i++ {
				o.next <- struct{}{}
				got := make(chan string, 1)
				go func() { s, _ := br.ReadString('\n'); got <- s }()
				select {
				case s := <-got:
					if want := fmt.Sprintf("line %d\n", i); s != want {
						t.Fatalf("read %q, want %q", s, want)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("line %d, written by the origin, did not reach the client: the proxy held it", i)
				}
				if n := <-o.wrote; n != i {
					t.Fatalf("origin wrote line %d, want %d", n, i)
				}
			}
		})
	}
}

// TestStalledBodyStillSendsHeaders: an origin that sends its headers and
// then nothing still gets its status line and headers to the client.
func TestStalledBodyStillSendsHeaders(t *testing.T) {
	w := newWorld(t, worldOptions{})
	release := make(chan struct{})
	defer close(release)
	l := listen(t)
	serveForTest(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("X-Stalled", "yes")
		rw.WriteHeader(http.StatusAccepted)
		http.NewResponseController(rw).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), l)
	c := w.client(nil)
	c.Timeout = 0
	c.Transport.(*http.Transport).ResponseHeaderTimeout = 10 * time.Second
	resp, err := c.Get("http://stall.test:" + port(l) + "/")
	if err != nil {
		t.Fatalf("no headers from a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Stalled") != "yes" {
		t.Errorf("got %d %v", resp.StatusCode, resp.Header)
	}
}
