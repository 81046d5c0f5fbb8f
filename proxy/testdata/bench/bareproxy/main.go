// Command bareproxy is the load benchmark's baseline: goproxy with no
// handlers at all, served the way pixelwall serves its proxy (a plain
// net/http Server). Its upstream transport has the same keep-alive pool as
// pixelwall's (proxy.NewTransport: 512 idle connections, 64 per host) and
// no proxy from the environment, so the difference between the two is
// pixelwall's own per-request work. Only for .ci/bench-proxy; loopback only.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/elazarl/goproxy"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen `address` (loopback only)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("bareproxy: %s is not a loopback address", *addr)
	}

	gp := goproxy.NewProxyHttpServer()
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	gp.Tr = &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("http proxy listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	srv := &http.Server{Handler: gp, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Fatal(srv.Serve(ln))
}
