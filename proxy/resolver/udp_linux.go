package resolver

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// On Linux the resolver reads UDP itself rather than through dns.Server:
// a long-lived worker per socket receives and sends packets in batches
// (recvmmsg and sendmmsg), and answers blocked and cached names without
// unpacking them (see wire.go). dns.Server spends a goroutine per packet,
// whose stack grows on every query, and two system calls per query.
//
// What the fast path cannot answer is handed, as bytes, to a goroutine
// that unpacks it and answers through ServeDNS's own path.

const (
	// udpBatch is how many packets a worker takes from the socket at most
	// per system call.
	udpBatch = 32
	// maxQuery is the largest query read; a longer one is dropped (dns.Server
	// read at most our EDNS size as well).
	maxQuery = ednsSize
	// maxFastAnswer bounds the answers written by the fast path; larger
	// ones (rare: clients take 1232 bytes at most by the flag day's advice)
	// go the slow way.
	maxFastAnswer = 4096
)

// udpConn is one UDP socket served by a worker.
type udpConn struct {
	conn  *net.UDPConn
	batch *ipv4.PacketConn // recvmmsg and sendmmsg work on either family
	// pktinfo is set for a wildcard socket: a reply must leave from the
	// address its query came to, which the kernel tells per packet.
	pktinfo bool
}

func newUDPConn(pc net.PacketConn) (*udpConn, bool) {
	conn, ok := pc.(*net.UDPConn)
	if !ok {
		return nil, false
	}
	u := &udpConn{conn: conn, batch: ipv4.NewPacketConn(conn)}
	if la, ok := conn.LocalAddr().(*net.UDPAddr); ok && la.IP.IsUnspecified() {
		// A dual-stack socket gets IPv4 queries' destination as IP_PKTINFO
		// and IPv6 ones' as IPV6_PKTINFO: ask for both, need one.
		err4 := u.batch.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
		err6 := ipv6.NewPacketConn(conn).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
		if err4 != nil && err6 != nil {
			return nil, false
		}
		u.pktinfo = true
	}
	return u, true
}

// replyOOB is the control message that makes a reply leave from the address
// the query (whose control messages are oob) was sent to.
func replyOOB(oob []byte) []byte {
	var cm6 ipv6.ControlMessage
	if cm6.Parse(oob) == nil && cm6.Dst != nil && cm6.Dst.To4() == nil {
		return (&ipv6.ControlMessage{Src: cm6.Dst}).Marshal()
	}
	var cm4 ipv4.ControlMessage
	if cm4.Parse(oob) == nil && cm4.Dst != nil {
		return (&ipv4.ControlMessage{Src: cm4.Dst}).Marshal()
	}
	if cm6.Dst != nil { // an IPv4-mapped destination reported as IPv6
		return (&ipv4.ControlMessage{Src: cm6.Dst.To4()}).Marshal()
	}
	return nil
}

// serveUDP runs a worker on u until u is closed. slow tracks the goroutines
// it starts for the slow path.
func (s *Server) serveUDP(u *udpConn, slow *sync.WaitGroup) error {
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, maxQuery)}
		if u.pktinfo {
			in[i].OOB = make([]byte, 128)
		}
		out[i].Buffers = [][]byte{make([]byte, 0, maxFastAnswer)}
	}
	bufs := make([][]byte, udpBatch) // out's buffers, kept whole
	for i := range bufs {
		bufs[i] = out[i].Buffers[0]
	}
	name := make([]byte, 0, 256)
	var cn clientName
	for {
		n, err := u.batch.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Debug("resolver: reading UDP", "err", err)
			continue
		}
		now := s.now()
		nout := 0
		for i := range in[:n] {
			m := &in[i]
			ua, _ := m.Addr.(*net.UDPAddr)
			if ua == nil || m.Flags&unix.MSG_TRUNC != 0 {
				continue // longer than any query we take
			}
			ip, _ := netip.AddrFromSlice(ua.IP)
			client := ip.Unmap()
			pkt := m.Buffers[0][:m.N]
			b, res := s.answerFast(bufs[nout][:0], pkt, name, client, &cn, now)
			var oob []byte
			if u.pktinfo && res != fastDropped {
				oob = replyOOB(m.OOB[:m.NN])
			}
			switch res {
			case fastAnswered:
				o := &out[nout]
				o.Buffers[0], o.Addr, o.OOB = b, ua, oob
				nout++
			case fastSlow, fastChecked, fastRefusal:
				pkt := append([]byte(nil), pkt...)
				slow.Add(1)
				go func() {
					defer slow.Done()
					s.serveRaw(&udpWriter{u: u, remote: ua, oob: oob}, pkt, client, res)
				}()
			}
		}
		for sent := 0; sent < nout; {
			k, err := u.batch.WriteBatch(out[sent:nout], 0)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return nil
				}
				s.log.Debug("resolver: writing UDP", "err", err)
				k++ // skip the answer that failed
			}
			sent += k
		}
	}
}

// serveRaw answers a query packet the fast path passed on, as dns.Server
// would (with its DefaultMsgAcceptFunc): responses are ignored, queries it
// would reject get FORMERR or NOTIMP with just the header (and only when
// the client is served). pre is what answerFast did (see serve).
func (s *Server) serveRaw(w *udpWriter, pkt []byte, client netip.Addr, pre fastResult) {
	if len(pkt) < 12 {
		return // too short to answer; any reply could be used to amplify
	}
	u16 := func(i int) uint16 { return binary.BigEndian.Uint16(pkt[i:]) }
	dh := dns.Header{Id: u16(0), Bits: u16(2), Qdcount: u16(4), Ancount: u16(6), Nscount: u16(8), Arcount: u16(10)}
	rcode := dns.RcodeFormatError
	switch dns.DefaultMsgAcceptFunc(dh) {
	case dns.MsgIgnore:
		return
	case dns.MsgRejectNotImplemented:
		rcode = dns.RcodeNotImplemented
	case dns.MsgAccept:
		req := new(dns.Msg)
		if req.Unpack(pkt) == nil {
			s.serve(w, req, client, true, pre)
			return
		}
	}
	if pre == fastRefusal || pre == fastSlow && !s.clientAllowed(client) {
		return
	}
	hdr := make([]byte, 12)
	copy(hdr, pkt[:2])
	binary.BigEndian.PutUint16(hdr[2:], flagQR|dh.Bits&flagOpcode|uint16(rcode))
	_, _ = w.Write(hdr)
}

// udpWriter is the slow path's dns.ResponseWriter for one UDP query.
type udpWriter struct {
	u      *udpConn
	remote *net.UDPAddr
	oob    []byte
}

func (w *udpWriter) LocalAddr() net.Addr  { return w.u.conn.LocalAddr() }
func (w *udpWriter) RemoteAddr() net.Addr { return w.remote }

func (w *udpWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (w *udpWriter) Write(b []byte) (int, error) {
	n, _, err := w.u.conn.WriteMsgUDP(b, w.oob, w.remote)
	return n, err
}

func (w *udpWriter) Close() error        { return nil }
func (w *udpWriter) TsigStatus() error   { return nil }
func (w *udpWriter) TsigTimersOnly(bool) {}
func (w *udpWriter) Hijack()             {}
