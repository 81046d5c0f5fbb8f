// Command origin is the load benchmark's upstream web server: it answers
// every path on its listen address with the same small HTML page, and counts
// what it served so the benchmark can check that requests really went
// through each proxy. Only for .ci/bench-proxy; it listens on loopback.
//
// Counts are served as JSON on the separate -stats address (GET /), so
// reading them never adds to them:
//
//	{"total": N, "conns": N, "absolute_form": N, "sec_gpc": N, "by": {"pixelwall": N, ...}}
//
// "by" is keyed by the path segment after /bench/ (/bench/NAME/...), which
// the benchmark sets to the name of the proxy under test; absolute_form
// counts request lines that reached the origin still in proxy form (a proxy
// should rewrite them), sec_gpc those carrying Sec-GPC (pixelwall adds it),
// conns the TCP connections accepted (how often a proxy opened a new
// upstream connection rather than reusing one).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type counters struct {
	total, absolute, gpc, conns atomic.Int64
	by                          sync.Map // string -> *atomic.Int64
}

func (c *counters) count(r *http.Request) {
	c.total.Add(1)
	if !strings.HasPrefix(r.RequestURI, "/") {
		c.absolute.Add(1)
	}
	if r.Header.Get("Sec-GPC") != "" {
		c.gpc.Add(1)
	}
	name := "other"
	if rest, ok := strings.CutPrefix(r.URL.Path, "/bench/"); ok {
		name, _, _ = strings.Cut(rest, "/")
	}
	v, ok := c.by.Load(name)
	if !ok {
		v, _ = c.by.LoadOrStore(name, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

func (c *counters) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Total    int64            `json:"total"`
		Conns    int64            `json:"conns"`
		Absolute int64            `json:"absolute_form"`
		GPC      int64            `json:"sec_gpc"`
		By       map[string]int64 `json:"by"`
	}{c.total.Load(), c.conns.Load(), c.absolute.Load(), c.gpc.Load(), map[string]int64{}}
	c.by.Range(func(k, v any) bool {
		out.By[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// page builds an HTML page of exactly size bytes (at least the skeleton).
func page(size int) []byte {
	head := "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>pixelwall bench origin</title></head>\n<body>\n<h1>Benchmark page</h1>\n<p>"
	tail := "</p>\n</body></html>\n"
	const filler = "The quick brown fox jumps over the lazy dog. "
	var b strings.Builder
	b.WriteString(head)
	for b.Len()+len(tail) < size {
		n := min(len(filler), size-len(tail)-b.Len())
		b.WriteString(filler[:n])
	}
	b.WriteString(tail)
	return []byte(b.String())
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen `address` for the page (loopback only)")
	statsAddr := flag.String("stats", "127.0.0.1:0", "listen `address` for the counters")
	size := flag.Int("size", 1024, "body size in bytes")
	flag.Parse()
	for _, a := range []string{*addr, *statsAddr} {
		if !loopback(a) {
			log.Fatalf("origin: %s is not a loopback address", a)
		}
	}

	body := page(*size)
	length := strconv.Itoa(len(body))
	c := &counters{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.count(r)
		hd := w.Header()
		hd["Content-Type"] = []string{"text/html; charset=utf-8"}
		hd["Content-Length"] = []string{length}
		hd["Cache-Control"] = []string{"no-store"}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	sln, err := net.Listen("tcp", *statsAddr)
	if err != nil {
		log.Fatal(err)
	}
	go func() { log.Fatal(http.Serve(sln, c)) }()
	fmt.Printf("stats listening on %s\n", sln.Addr())
	fmt.Printf("origin listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				c.conns.Add(1)
			}
		}}
	log.Fatal(srv.Serve(ln))
}

func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
