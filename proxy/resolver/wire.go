package resolver

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/pixelwall/pixelwall/blocklist"
)

// The UDP fast path answers the two answers a home network asks for most,
// blocked names and cached ones, straight from the query's bytes: no
// dns.Msg is unpacked or packed, nothing is allocated but the event. It
// reads the question, decides exactly as the slow path would, and writes
// the answer into the worker's buffer: blocks are written out here, cached
// answers are copied from a packed reply the slow path made for the same
// cache entry, with the ID, RD bit and TTLs patched. Anything
// else (a miss, an unusual query, a refusal) goes to the slow path, which
// is ServeDNS.

// Header flag bits (RFC 1035 section 4.1.1).
const (
	flagQR     = 0x8000
	flagOpcode = 0x7800
	flagTC     = 0x0200
	flagRD     = 0x0100
	flagRA     = 0x0080
	flagCD     = 0x0010
	flagDO     = 0x8000 // in the OPT record's TTL field
)

// wireQuery is what the fast path reads of a query.
type wireQuery struct {
	id    uint16
	flags uint16 // the query's RD and CD bits
	qend  int    // where the question section ends
	name  []byte // lower case, with the trailing dot
	qtype uint16
	edns  bool
	do    bool
	size  int // the largest answer the client takes over UDP
}

// parseQuery reads a plain query: opcode QUERY, one question of class IN,
// no records but at most an OPT (EDNS version 0), a name of letters,
// digits, '-' and '_' only (others would need the escaping miekg/dns
// gives them), nothing after the last record. name is the buffer the
// lowered name is written to. Anything else is not ok, for the slow path.
func parseQuery(pkt, name []byte) (q wireQuery, ok bool) {
	if len(pkt) < 12 {
		return q, false
	}
	flags := binary.BigEndian.Uint16(pkt[2:])
	if flags&(flagQR|flagOpcode|flagTC) != 0 ||
		binary.BigEndian.Uint16(pkt[4:]) != 1 || binary.BigEndian.Uint16(pkt[6:]) != 0 ||
		binary.BigEndian.Uint16(pkt[8:]) != 0 {
		return q, false
	}
	arcount := binary.BigEndian.Uint16(pkt[10:])
	if arcount > 1 {
		return q, false
	}
	q.id = binary.BigEndian.Uint16(pkt)
	q.flags = flags & (flagRD | flagCD)
	off := 12
	name = name[:0]
	for {
		if off >= len(pkt) {
			return q, false
		}
		l := int(pkt[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(pkt) {
			return q, false // a compression pointer or another label kind, or cut short
		}
		for _, c := range pkt[off : off+l] {
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				return q, false
			}
			name = append(name, c)
		}
		name = append(name, '.')
		off += l
	}
	if len(name) == 0 || off-12 > 255 || off+4 > len(pkt) {
		return q, false // the root, an over-long name, or no type and class
	}
	q.name = name
	q.qtype = binary.BigEndian.Uint16(pkt[off:])
	if binary.BigEndian.Uint16(pkt[off+2:]) != dns.ClassINET {
		return q, false
	}
	off += 4
	q.qend = off
	q.size = dns.MinMsgSize
	if arcount == 1 {
		// OPT: root name, type 41, class = UDP size, TTL = extended
		// RCODE, version and flags, then the options.
		if off+11 > len(pkt) || pkt[off] != 0 || binary.BigEndian.Uint16(pkt[off+1:]) != dns.TypeOPT || pkt[off+6] != 0 {
			return q, false
		}
		q.edns = true
		q.size = max(int(binary.BigEndian.Uint16(pkt[off+3:])), dns.MinMsgSize)
		q.do = binary.BigEndian.Uint16(pkt[off+7:])&flagDO != 0
		off += 11 + int(binary.BigEndian.Uint16(pkt[off+9:]))
	}
	return q, off == len(pkt)
}

// packedReply is an answer made from a cached upstream answer, packed:
// the ID, the RD bit and the TTLs differ from one query to the next and
// are patched in the copy.
type packedReply struct {
	buf  []byte
	ttls []uint16 // offsets of the TTL fields (the OPT record's is not one)
	gen  uint64   // the matcher generation its CNAME chain was checked under
}

// decay lowers the TTLs in b, a copy of p.buf, by sec, as decayed does.
func (p *packedReply) decay(b []byte, sec uint32) {
	if sec == 0 {
		return
	}
	for _, off := range p.ttls {
		ttl := binary.BigEndian.Uint32(b[off:])
		binary.BigEndian.PutUint32(b[off:], ttl-min(ttl, sec))
	}
}

// ttlOffsets finds the TTL fields of a packed message's records, leaving
// out OPT's.
func ttlOffsets(b []byte) ([]uint16, bool) {
	if len(b) < 12 || len(b) > 0xFFFF {
		return nil, false
	}
	skipName := func(off int) int {
		for off < len(b) {
			l := int(b[off])
			switch {
			case l == 0:
				return off + 1
			case l&0xC0 == 0xC0:
				return off + 2 // a pointer ends the name
			case l > 63:
				return -1
			}
			off += 1 + l
		}
		return -1
	}
	off := 12
	for range binary.BigEndian.Uint16(b[4:]) {
		if off = skipName(off); off < 0 || off+4 > len(b) {
			return nil, false
		}
		off += 4
	}
	n := int(binary.BigEndian.Uint16(b[6:])) + int(binary.BigEndian.Uint16(b[8:])) + int(binary.BigEndian.Uint16(b[10:]))
	var ttls []uint16
	for range n {
		if off = skipName(off); off < 0 || off+10 > len(b) {
			return nil, false
		}
		if binary.BigEndian.Uint16(b[off:]) != dns.TypeOPT {
			ttls = append(ttls, uint16(off+4))
		}
		off += 10 + int(binary.BigEndian.Uint16(b[off+8:]))
	}
	if off != len(b) {
		return nil, false
	}
	return ttls, true
}

// learn keeps the packed reply to req made from src, the cached answer it
// was just answered from, for the fast path to copy. gen is the matcher
// generation of the lists the answer was checked against.
//
// The reply is packed with the question in lower case, as the fast path
// only answers queries in lower case: miekg/dns compresses the answers'
// names (which are the upstream's, in lower case) against the question
// only where letter case agrees, so a question in another case would need
// the answer packed again.
func (s *Server) learn(req *dns.Msg, src source) {
	gen := src.gen
	edns := req.IsEdns0() != nil
	if !s.cache.lacksPacked(src.key, src.msg, edns, gen) {
		return // packed already (the query was one the fast path passes on)
	}
	m := reply(req, src.msg)
	m.Question[0].Name = strings.ToLower(m.Question[0].Name)
	b, err := m.Pack()
	if err != nil {
		return
	}
	ttls, ok := ttlOffsets(b)
	if !ok {
		return
	}
	s.cache.setPacked(src.key, src.msg, edns, &packedReply{buf: b, ttls: ttls, gen: gen})
}

// clientName caches a worker's last client's address as a string: a
// client asks many questions in a row.
type clientName struct {
	addr netip.Addr
	s    string
}

func (c *clientName) of(a netip.Addr) string {
	if a != c.addr || c.s == "" {
		c.addr, c.s = a, a.String()
	}
	return c.s
}

// fastResult is what answerFast did with a packet.
type fastResult int

const (
	fastAnswered fastResult = iota // the answer is in the buffer
	fastDropped                    // nothing to send (rate limited)
	fastSlow                       // for the slow path, client not yet checked
	fastChecked                    // for the slow path, client counted and let through
	fastRefusal                    // for the slow path to refuse: counted, refusal token taken
)

// answerFast answers pkt from client when it can, appending the answer to
// dst. name is a scratch buffer for the question's name.
func (s *Server) answerFast(dst, pkt, name []byte, client netip.Addr, cn *clientName, now time.Time) ([]byte, fastResult) {
	if !s.clientAllowed(client) {
		// Refusals beyond their rate are dropped here: a flood from
		// spoofed sources costs no goroutine and no unpacking.
		s.queries.Add(1)
		if !s.refusals.allow(client, now) {
			s.refusalsDropped.Add(1)
			return dst, fastDropped
		}
		return dst, fastRefusal
	}
	q, ok := parseQuery(pkt, name)
	if !ok || q.qtype == dns.TypeANY {
		return dst, fastSlow
	}
	s.queries.Add(1)
	if s.limiter != nil && !s.limiter.allow(client, now) {
		s.limited.Add(1)
		s.emit(Event{Time: now, Kind: "rate-limited", Client: cn.of(client), Name: string(q.name[:len(q.name)-1])})
		return dst, fastDropped
	}
	// The host aliases the scratch buffer: the matcher and the overrides
	// only read it; events get a copy (strings.Clone: converting a string
	// to a string copies nothing).
	host := unsafe.String(&q.name[0], len(q.name)-1)
	pol := s.opts.Policy()
	gen := pol.Generation()
	v := decide(pol, client, unsafe.String(&q.name[0], len(q.name)))
	switch v.kind {
	case verdictOwn, verdictSpecial:
		return dst, fastChecked
	case verdictBlock:
		d := v.d
		start := len(dst)
		dst = s.appendBlock(dst, pkt, &q, d, v.mode)
		if len(dst)-start > q.size {
			return dst[:start], fastChecked // the slow path truncates
		}
		s.blocked.Add(1)
		s.emit(Event{Time: now, Kind: "blocked", Client: cn.of(client), Name: strings.Clone(host),
			Type: dns.TypeToString[q.qtype], Rule: d.Rule, List: d.List})
		return dst, fastAnswered
	}
	if s.cache == nil {
		return dst, fastChecked
	}
	k := cacheKey{name: unsafe.String(&q.name[0], len(q.name)), qtype: q.qtype, do: q.do, cd: q.flags&flagCD != 0}
	start := len(dst)
	dst, ok = s.cache.appendPacked(dst, k, q.edns, gen, !s.opts.NoPrefetch, now)
	out := dst[start:]
	if !ok || len(out) > q.size || len(out) < q.qend || !bytes.Equal(out[12:q.qend], pkt[12:q.qend]) {
		return dst[:start], fastChecked // a question in upper case gets its own packing
	}
	binary.BigEndian.PutUint16(out, q.id)
	out[2] = out[2]&^byte(flagRD>>8) | byte(q.flags>>8)&byte(flagRD>>8)
	s.cacheHits.Add(1)
	s.emit(passedEvent(v, Event{Time: now, Client: cn.of(client), Name: strings.Clone(host), Type: dns.TypeToString[q.qtype]}))
	return dst, fastAnswered
}

// Names in block answers, in wire form.
var (
	blockMname = wireName("blocked." + LocalName)
	blockRname = wireName("hostmaster." + LocalName)
)

func wireName(s string) []byte {
	b := make([]byte, 64)
	n, err := dns.PackDomainName(s, b, 0, nil, false)
	if err != nil {
		panic(err)
	}
	return b[:n]
}

// appendBlock appends the answer blockAnswer gives a blocked name (without
// a CNAME: the fast path blocks query names only).
func (s *Server) appendBlock(dst, pkt []byte, q *wireQuery, d blocklist.Decision, mode BlockMode) []byte {
	if mode == "" {
		mode = s.opts.BlockMode
	}
	ttl := uint32(s.opts.BlockTTL / time.Second)
	rcode, ede := uint16(dns.RcodeSuccess), dns.ExtendedErrorCodeFiltered
	var an, ns uint16
	switch {
	case mode == BlockRefused:
		rcode, ede = dns.RcodeRefused, dns.ExtendedErrorCodeBlocked
	case mode == BlockNXDomain:
		rcode, ede, ns = dns.RcodeNameError, dns.ExtendedErrorCodeBlocked, 1
	case q.qtype == dns.TypeA || q.qtype == dns.TypeAAAA:
		an = 1
	default:
		ns = 1
	}
	var ar uint16
	if q.edns {
		ar = 1
	}
	dst = binary.BigEndian.AppendUint16(dst, q.id)
	dst = binary.BigEndian.AppendUint16(dst, flagQR|flagRA|q.flags|rcode)
	dst = binary.BigEndian.AppendUint16(dst, 1)
	dst = binary.BigEndian.AppendUint16(dst, an)
	dst = binary.BigEndian.AppendUint16(dst, ns)
	dst = binary.BigEndian.AppendUint16(dst, ar)
	dst = append(dst, pkt[12:q.qend]...)
	// Records are owned by the question's name: a pointer to offset 12.
	rr := func(dst []byte, typ uint16, rdlen int) []byte {
		dst = append(dst, 0xC0, 12)
		dst = binary.BigEndian.AppendUint16(dst, typ)
		dst = binary.BigEndian.AppendUint16(dst, dns.ClassINET)
		dst = binary.BigEndian.AppendUint32(dst, ttl)
		return binary.BigEndian.AppendUint16(dst, uint16(rdlen))
	}
	switch {
	case an == 1 && q.qtype == dns.TypeA:
		dst = append(rr(dst, dns.TypeA, 4), 0, 0, 0, 0)
	case an == 1:
		dst = append(rr(dst, dns.TypeAAAA, 16), make([]byte, 16)...)
	case ns == 1:
		dst = rr(dst, dns.TypeSOA, len(blockMname)+len(blockRname)+20)
		dst = append(dst, blockMname...)
		dst = append(dst, blockRname...)
		for _, v := range soaTimers {
			dst = binary.BigEndian.AppendUint32(dst, v)
		}
		dst = binary.BigEndian.AppendUint32(dst, ttl) // minimum
	}
	if q.edns {
		// OPT with our UDP size, the client's DO bit and an Extended DNS
		// Error (RFC 8914) whose text names the rule and its list.
		textLen := len(d.Rule) + 2 + len(d.List) + 1
		var do uint16
		if q.do {
			do = flagDO
		}
		dst = append(dst, 0)
		dst = binary.BigEndian.AppendUint16(dst, dns.TypeOPT)
		dst = binary.BigEndian.AppendUint16(dst, ednsSize)
		dst = append(dst, 0, 0) // extended RCODE, version
		dst = binary.BigEndian.AppendUint16(dst, do)
		dst = binary.BigEndian.AppendUint16(dst, uint16(4+2+textLen))
		dst = binary.BigEndian.AppendUint16(dst, dns.EDNS0EDE)
		dst = binary.BigEndian.AppendUint16(dst, uint16(2+textLen))
		dst = binary.BigEndian.AppendUint16(dst, ede)
		dst = append(dst, d.Rule...)
		dst = append(dst, " ("...)
		dst = append(dst, d.List...)
		dst = append(dst, ')')
	}
	return dst
}
