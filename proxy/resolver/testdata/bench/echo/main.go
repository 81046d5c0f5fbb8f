// Command echo is the DNS benchmark's reference for the most any server
// could answer on the machine: it does no DNS work at all. Each query is
// sent back as its own response (QR and RA set, nothing else changed:
// a NOERROR answer with no records), read and written in batches of 32
// with recvmmsg and sendmmsg, as pixelwall's UDP fast path does. What it
// reaches under dnsperf is what the kernel's loopback and dnsperf itself
// leave for a server on these cores.
//
//	echo -addr 127.0.0.1:0
//
// It prints "echo listening on ADDR" once ready. Loopback only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"

	"golang.org/x/net/ipv4"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "UDP address to listen on (loopback)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		log.Fatalf("echo: %s is not a loopback address", *addr)
	}
	c, err := net.ListenPacket("udp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("echo listening on", c.LocalAddr())
	if err := serve(ipv4.NewPacketConn(c)); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

const batch = 32

func serve(p *ipv4.PacketConn) error {
	in := make([]ipv4.Message, batch)
	out := make([]ipv4.Message, batch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, 1232)}
		out[i].Buffers = [][]byte{nil}
	}
	for {
		n, err := p.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		k := 0
		for i := range in[:n] {
			b := in[i].Buffers[0][:in[i].N]
			if len(b) < 12 || b[2]&0x80 != 0 {
				continue // too short for a header, or a response
			}
			b[2] |= 0x80 // QR
			b[3] |= 0x80 // RA
			out[k].Buffers[0], out[k].Addr = b, in[i].Addr
			k++
		}
		for sent := 0; sent < k; {
			m, err := p.WriteBatch(out[sent:k], 0)
			if err != nil {
				return err
			}
			sent += m
		}
	}
}
