// Command stub is the upstream of .ci/bench-dns: a DNS server on loopback
// that answers every A query with one fixed address and every AAAA query
// with another (other types: an empty NOERROR answer), as fast as it can or
// after a fixed delay. pixelwall, dnsmasq and unbound all forward to it, so
// a "forwarded" query costs the same upstream work for each of them and
// nothing ever leaves the machine.
//
// It counts the queries it answered; a CHAOS-class TXT query for
// "queries.stub." answers that count (and is not counted), so the benchmark
// can check that cached and blocked answers never reached the upstream:
//
//	stub [-addr 127.0.0.1:0] [-ttl 86400] [-delay 0] [-a 192.0.2.1] [-aaaa 2001:db8::1]
//
// It prints "stub listening on ADDR" (UDP and TCP on the same port).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "UDP and TCP listen `address` (loopback only)")
	ttl := flag.Uint("ttl", 86400, "TTL of the answers, in seconds")
	delay := flag.Duration("delay", 0, "wait this long before each answer")
	a4 := flag.String("a", "192.0.2.1", "address answered to A queries")
	a6 := flag.String("aaaa", "2001:db8::1", "address answered to AAAA queries")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("stub: %s is not a loopback address", *addr)
	}
	ip4, ip6 := net.ParseIP(*a4).To4(), net.ParseIP(*a6)
	if ip4 == nil || ip6 == nil || ip6.To4() != nil {
		log.Fatal("stub: -a wants an IPv4 address and -aaaa an IPv6 one")
	}

	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ; attempt++ {
		if pc, err = net.ListenPacket("udp", *addr); err != nil {
			log.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if _, port, _ := net.SplitHostPort(*addr); port != "0" || attempt == 9 {
			log.Fatal(err)
		}
	}

	var count atomic.Uint64
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		if len(q.Question) == 1 && q.Question[0].Qclass == dns.ClassCHAOS && q.Question[0].Name == "queries.stub." {
			m.Answer = []dns.RR{&dns.TXT{
				Hdr: dns.RR_Header{Name: "queries.stub.", Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS},
				Txt: []string{strconv.FormatUint(count.Load(), 10)},
			}}
			_ = w.WriteMsg(m)
			return
		}
		count.Add(1)
		if *delay > 0 {
			time.Sleep(*delay)
		}
		for _, qq := range q.Question {
			hdr := dns.RR_Header{Name: qq.Name, Rrtype: qq.Qtype, Class: dns.ClassINET, Ttl: uint32(*ttl)}
			switch qq.Qtype {
			case dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip4})
			case dns.TypeAAAA:
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip6})
			}
		}
		if len(m.Answer) == 0 && len(q.Question) == 1 {
			// NODATA with a SOA, so that resolvers may cache it (RFC 2308).
			m.Ns = []dns.RR{&dns.SOA{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: uint32(*ttl)},
				Ns:  "ns.stub.", Mbox: "hostmaster.stub.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: uint32(*ttl),
			}}
		}
		if o := q.IsEdns0(); o != nil {
			m.SetEdns0(1232, o.Do())
		}
		_ = w.WriteMsg(m)
	})
	fmt.Printf("stub listening on %s\n", pc.LocalAddr())
	os.Stdout.Sync()
	errc := make(chan error, 2)
	go func() { errc <- (&dns.Server{PacketConn: pc, Handler: handler, UDPSize: 1232}).ActivateAndServe() }()
	go func() { errc <- (&dns.Server{Listener: ln, Handler: handler}).ActivateAndServe() }()
	log.Fatal(<-errc)
}
