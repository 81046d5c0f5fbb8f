package blocklist

import (
	"hash/maphash"
	"math/bits"
)

// hostSet is a compact, immutable set of hostnames, each with the text of the
// rule that put it there. Keys and texts are not copied: they are offsets
// into the list texts, so a million-domain list costs little beyond its own
// text. Lookups do not allocate.
type hostSet struct {
	seed    maphash.Seed
	texts   []string    // indexed by hostEntry.text
	entries []hostEntry //
	// slots hold entry index + 1 in the low idxBits bits (0 is empty) and
	// the top bits of the key's hash above them, so that a probe that misses
	// touches only the slot, not the entry and the list text.
	slots   []uint32
	mask    uint32
	idxBits uint
}

type hostEntry struct {
	off   uint32 // rule text start in texts[text]
	tlen  uint16 // rule text length
	text  uint16 // which text
	list  uint16 // which list, for the decision
	kskip uint8  // the hostname starts kskip bytes into the rule text
	klen  uint8  // hostname length (names are at most 253 bytes)
}

func (s *hostSet) key(e *hostEntry) string {
	o := int(e.off) + int(e.kskip)
	return s.texts[e.text][o : o+int(e.klen)]
}

func (s *hostSet) ruleText(e *hostEntry) string {
	return s.texts[e.text][e.off : e.off+uint32(e.tlen)]
}

// build lays out the hash table; later duplicates of a key are dropped and
// counted in dups (by list).
func (s *hostSet) build(dups func(list uint16)) {
	n := 8
	for n < len(s.entries)*4/3+1 {
		n <<= 1
	}
	s.slots = make([]uint32, n)
	s.mask = uint32(n - 1)
	s.idxBits = uint(bits.Len(uint(len(s.entries) + 1)))
	kept := s.entries[:0]
	for _, e := range s.entries {
		if s.find(s.key(&e)) >= 0 {
			dups(e.list)
			continue
		}
		kept = append(kept, e)
		s.insert(len(kept) - 1)
	}
	s.entries = kept[:len(kept):len(kept)]
}

func (s *hostSet) insert(i int) {
	h := uint32(maphash.String(s.seed, s.key(&s.entries[i])))
	for j := h & s.mask; ; j = (j + 1) & s.mask {
		if s.slots[j] == 0 {
			s.slots[j] = uint32(i+1) | s.tag(h)
			return
		}
	}
}

// tag is the part of a hash stored beside the index in a slot.
func (s *hostSet) tag(h uint32) uint32 {
	if s.idxBits >= 32 {
		return 0
	}
	return h >> s.idxBits << s.idxBits
}

// find returns the entry index for host, or -1.
func (s *hostSet) find(host string) int {
	if len(s.slots) == 0 {
		return -1
	}
	return s.findHashed(host, uint32(maphash.String(s.seed, host)))
}

// findHashed is find with the host's hash (by s.seed) already computed.
func (s *hostSet) findHashed(host string, h uint32) int {
	tag := s.tag(h)
	idxMask := uint32(1)<<s.idxBits - 1
	for j := h & s.mask; ; j = (j + 1) & s.mask {
		v := s.slots[j]
		if v == 0 {
			return -1
		}
		if v&^idxMask != tag {
			continue
		}
		i := v&idxMask - 1
		if e := &s.entries[i]; int(e.klen) == len(host) && s.key(e) == host {
			return int(i)
		}
	}
}

// match walks host and its parent domains (a.b.c, b.c, c) and returns the
// first, most specific, entry found, or -1.
func (s *hostSet) match(host string) int {
	if len(s.entries) == 0 {
		return -1
	}
	for {
		if i := s.find(host); i >= 0 {
			return i
		}
		dot := indexDot(host)
		if dot < 0 {
			return -1
		}
		host = host[dot+1:]
	}
}

func indexDot(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}
