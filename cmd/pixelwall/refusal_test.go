package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
	"github.com/pixelwall/pixelwall/proxy/resolver"
)

// TestRefusalFloodFoldedInLog: a client outside dns.allow_clients sends a
// flood of queries for distinct names. The resolver answers a burst and
// drops the rest (pixelwall_dns_refusals_dropped_total); the recorder
// stores the answered refusals, which the block log folds into one row
// per client and minute whose count is every refusal answered.
func TestRefusalFloodFoldedInLog(t *testing.T) {
	blog, err := blocklog.Open(blocklog.Options{Path: filepath.Join(t.TempDir(), "log.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer blog.Close()
	var srv *resolver.Server
	met := newMetrics(blog, func() *resolver.Server { return srv })
	rec := recorder{log: blog, metrics: met, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	up, err := resolver.ParseUpstream("127.0.0.1:1", resolver.UpstreamOptions{}) // never asked
	if err != nil {
		t.Fatal(err)
	}
	pol := blocklist.NewPolicy(blocklist.Compile(), nil, nil)
	srv, err = resolver.New(resolver.Options{
		Policy:       func() *blocklist.Policy { return pol },
		Upstreams:    []resolver.Upstream{up},
		AllowClients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Event:        rec.dns,
	})
	if err != nil {
		t.Fatal(err)
	}
	udp, tcp, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, udp, tcp); close(done) }()
	defer func() { cancel(); <-done }()

	conn, err := net.Dial("udp", udp.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const sent = 300
	for i := range sent {
		m := new(dns.Msg)
		m.SetQuestion("n"+strconv.Itoa(i)+".flood.test.", dns.TypeA)
		pkt, _ := m.Pack()
		conn.Write(pkt)
		time.Sleep(time.Millisecond) // loopback drops what the socket cannot hold
	}
	var st resolver.Stats
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st = srv.Stats(); st.Refused+st.RefusalsDropped == sent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refused %d + dropped %d, want %d", st.Refused, st.RefusalsDropped, sent)
		}
	}
	// The default refusal rate: a burst of 20, 5 a second after it.
	if st.Refused < 20 || st.Refused > 40 {
		t.Errorf("%d of %d refused queries answered, want the burst of 20 and a few", st.Refused, sent)
	}
	if err := blog.Flush(); err != nil {
		t.Fatal(err)
	}
	rows, err := blog.Query(context.Background(), blocklog.Filter{Kind: "refused"})
	if err != nil {
		t.Fatal(err)
	}
	var logged uint64
	for _, e := range rows {
		logged += uint64(e.Count)
		if e.Client != "127.0.0.1" || e.Layer != "dns" {
			t.Errorf("row %+v, want dns refusals of 127.0.0.1", e)
		}
	}
	if len(rows) == 0 || len(rows) > 2 || logged != st.Refused {
		t.Errorf("%d refusal rows counting %d, want one a minute (two if the minute turned) counting the %d answered",
			len(rows), logged, st.Refused)
	}
	if got := gatherCounter(t, met, "pixelwall_dns_refusals_dropped_total"); got != float64(st.RefusalsDropped) || got == 0 {
		t.Errorf("pixelwall_dns_refusals_dropped_total = %v, want %d", got, st.RefusalsDropped)
	}
	if blog.Dropped() != 0 {
		t.Errorf("block log dropped %d entries", blog.Dropped())
	}
}

// gatherCounter is the sum of a counter's samples on m's registry.
func gatherCounter(t *testing.T, m *metrics, name string) float64 {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() == name {
			for _, s := range f.GetMetric() {
				sum += s.GetCounter().GetValue()
			}
		}
	}
	return sum
}
