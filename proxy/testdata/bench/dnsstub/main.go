// Command dnsstub is the load benchmark's DNS server: it answers every A
// query with 127.0.0.1 and every other query with an empty answer, so that
// names such as blocked.test lead back to the benchmark's origin. pixelwall
// is pointed at it with dns.upstreams; then a blocked request that leaked
// upstream would show up in the origin's count. Only for .ci/bench-proxy;
// UDP on loopback only.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/miekg/dns"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "UDP listen `address` (loopback only)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("dnsstub: %s is not a loopback address", *addr)
	}
	pc, err := net.ListenPacket("udp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})
	fmt.Printf("dns listening on %s\n", pc.LocalAddr())
	os.Stdout.Sync()
	log.Fatal((&dns.Server{PacketConn: pc, Handler: handler}).ActivateAndServe())
}
