package blocklist

import "hash/maphash"

// hostSet is a compact, immutable set of hostnames, each with the text of the
// rule that put it there. Keys and texts are not copied: they are offsets
// into the list texts, so a million-domain list costs little beyond its own
// text. Lookups do not allocate.
type hostSet struct {
	seed    maphash.Seed
	texts   []string    // indexed by hostEntry.text
	entries []hostEntry //
	slots   []uint32    // entry index + 1; 0 is empty
	mask    uint32
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
	s.seed = maphash.MakeSeed()
	n := 8
	for n < len(s.entries)*4/3+1 {
		n <<= 1
	}
	s.slots = make([]uint32, n)
	s.mask = uint32(n - 1)
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
			s.slots[j] = uint32(i + 1)
			return
		}
	}
}

// find returns the entry index for host, or -1.
func (s *hostSet) find(host string) int {
	if len(s.slots) == 0 {
		return -1
	}
	h := uint32(maphash.String(s.seed, host))
	for j := h & s.mask; ; j = (j + 1) & s.mask {
		v := s.slots[j]
		if v == 0 {
			return -1
		}
		if e := &s.entries[v-1]; int(e.klen) == len(host) && s.key(e) == host {
			return int(v - 1)
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
