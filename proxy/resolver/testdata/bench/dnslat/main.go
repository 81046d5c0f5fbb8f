// Command dnslat measures DNS latency percentiles for .ci/bench-dns: it
// sends queries one at a time over one UDP socket (the next only after the
// answer to the last) and reports the distribution of round-trip times,
// which dnsperf does not (it gives only the mean and standard deviation).
//
//	dnslat -s 127.0.0.1:PORT -unique fwd.example.net [-n 5000] [-warm 200]
//	dnslat -s 127.0.0.1:PORT -f queries.txt [-n 5000] [-warm 200]
//	dnslat -s 127.0.0.1:PORT -count
//	dnslat -s 127.0.0.1:PORT -q "name type"
//	dnslat -free
//
// -unique asks A for a fresh random name under the zone each time (so every
// query misses every cache); -f cycles through a dnsperf query file
// ("name type" lines). Output, one line:
//
//	n=5000 lost=0 p50_us=61.2 p90_us=80.1 p99_us=130.4 mean_us=66.0 min_us=40.2 max_us=900.0
//
// A query unanswered within -timeout counts as lost, is not retried and is
// left out of the percentiles. -count asks the benchmark's stub how many
// queries it answered (CHAOS TXT queries.stub.) and prints the number.
// -q asks one question and prints the rcode and the answers' data
// ("NOERROR 0.0.0.0"). -free prints a port of 127.0.0.1 free for both UDP
// and TCP (at the time of asking).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func main() {
	server := flag.String("s", "", "server `address` (host:port, loopback)")
	unique := flag.String("unique", "", "ask A for unique random names under this `zone`")
	file := flag.String("f", "", "dnsperf query `file` to cycle through")
	n := flag.Int("n", 5000, "measured queries")
	warm := flag.Int("warm", 200, "unmeasured queries first")
	timeout := flag.Duration("timeout", time.Second, "a query unanswered after this is lost")
	count := flag.Bool("count", false, "print how many queries the stub answered, and exit")
	one := flag.String("q", "", "ask one `question` (\"name type\"), print the rcode and answers, and exit")
	free := flag.Bool("free", false, "print a port free on 127.0.0.1 for UDP and TCP, and exit")
	flag.Parse()
	if *free {
		fmt.Println(freePort())
		return
	}
	host, _, err := net.SplitHostPort(*server)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("dnslat: -s %q is not a loopback host:port", *server)
	}
	conn, err := net.Dial("udp", *server)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	c := &dns.Conn{Conn: conn, UDPSize: 1232}

	if *count {
		q := new(dns.Msg)
		q.SetQuestion("queries.stub.", dns.TypeTXT)
		q.Question[0].Qclass = dns.ClassCHAOS
		r, err := exchange(c, q, *timeout)
		if err != nil || len(r.Answer) != 1 {
			log.Fatalf("dnslat: no count from %s: %v", *server, err)
		}
		fmt.Println(r.Answer[0].(*dns.TXT).Txt[0])
		return
	}

	if *one != "" {
		f := strings.Fields(*one)
		t, ok := dns.StringToType[strings.ToUpper(f[len(f)-1])]
		if len(f) != 2 || !ok {
			log.Fatalf("dnslat: -q %q: want \"name type\"", *one)
		}
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(f[0]), t)
		q.SetEdns0(1232, false)
		r, err := exchange(c, q, *timeout)
		if err != nil {
			log.Fatalf("dnslat: %s: %v", *one, err)
		}
		out := []string{dns.RcodeToString[r.Rcode]}
		for _, rr := range r.Answer {
			switch v := rr.(type) {
			case *dns.A:
				out = append(out, v.A.String())
			case *dns.AAAA:
				out = append(out, v.AAAA.String())
			default:
				out = append(out, dns.TypeToString[rr.Header().Rrtype])
			}
		}
		fmt.Println(strings.Join(out, " "))
		return
	}

	var next func(i int) (string, uint16)
	switch {
	case *unique != "" && *file == "":
		// A per-run random prefix: names never repeat across runs either.
		var b [4]byte
		_, _ = rand.Read(b[:])
		run := hex.EncodeToString(b[:])
		zone := strings.Trim(*unique, ".")
		next = func(i int) (string, uint16) { return fmt.Sprintf("u%s-%d.%s.", run, i, zone), dns.TypeA }
	case *file != "" && *unique == "":
		text, err := os.ReadFile(*file)
		if err != nil {
			log.Fatal(err)
		}
		type nq struct {
			name  string
			qtype uint16
		}
		var qs []nq
		for _, line := range strings.Split(string(text), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			t, ok := dns.StringToType[strings.ToUpper(f[1])]
			if !ok {
				log.Fatalf("dnslat: %s: unknown type %q", *file, f[1])
			}
			qs = append(qs, nq{dns.Fqdn(f[0]), t})
		}
		if len(qs) == 0 {
			log.Fatalf("dnslat: %s: no queries", *file)
		}
		next = func(i int) (string, uint16) { return qs[i%len(qs)].name, qs[i%len(qs)].qtype }
	default:
		log.Fatal("dnslat: give one of -unique and -f")
	}

	rtts := make([]time.Duration, 0, *n)
	lost := 0
	for i := 0; i < *warm+*n; i++ {
		name, qtype := next(i)
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		q.SetEdns0(1232, false)
		start := time.Now()
		r, err := exchange(c, q, *timeout)
		rtt := time.Since(start)
		if i < *warm {
			continue
		}
		if err != nil || r.Rcode != dns.RcodeSuccess {
			lost++
			continue
		}
		rtts = append(rtts, rtt)
	}
	if len(rtts) == 0 {
		log.Fatalf("dnslat: no answers from %s", *server)
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	var sum time.Duration
	for _, d := range rtts {
		sum += d
	}
	pct := func(p float64) float64 {
		i := int(p*float64(len(rtts))+0.5) - 1
		i = min(max(i, 0), len(rtts)-1)
		return us(rtts[i])
	}
	fmt.Printf("n=%d lost=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f max_us=%.1f\n",
		len(rtts), lost, pct(0.50), pct(0.90), pct(0.99), us(sum/time.Duration(len(rtts))), us(rtts[0]), us(rtts[len(rtts)-1]))
}

// exchange sends q and waits for the answer with its ID, skipping late
// answers to earlier queries.
func exchange(c *dns.Conn, q *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	deadline := time.Now().Add(timeout)
	c.SetDeadline(deadline)
	if err := c.WriteMsg(q); err != nil {
		return nil, err
	}
	for {
		r, err := c.ReadMsg()
		if err != nil {
			return nil, err
		}
		if r.Id == q.Id {
			return r, nil
		}
	}
}

// freePort finds a port that 127.0.0.1 has free for UDP and TCP.
func freePort() int {
	for attempt := 0; attempt < 20; attempt++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	log.Fatal("dnslat: no free port")
	return 0
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
