package blocklist

import (
	"bytes"
	"strings"
)

// isSeparator reports whether c matches the ^ placeholder: anything but a
// letter, a digit or one of _ - . %.
func isSeparator(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return false
	case c == '_' || c == '-' || c == '.' || c == '%':
		return false
	}
	return true
}

// segmentAt matches seg (literal bytes and ^, no *) at u[i:] and returns the
// end of the match. A ^ matches one separator, or the end of u when it is the
// last thing left to match (last reports that).
func segmentAt(u []byte, i int, seg string, last bool) (int, bool) {
	for k := 0; k < len(seg); k++ {
		c := seg[k]
		if i >= len(u) {
			// Only trailing ^ may match the end of the URL.
			if !last {
				return 0, false
			}
			for ; k < len(seg); k++ {
				if seg[k] != '^' {
					return 0, false
				}
			}
			return i, true
		}
		if c == '^' {
			if !isSeparator(u[i]) {
				return 0, false
			}
		} else if u[i] != c {
			return 0, false
		}
		i++
	}
	return i, true
}

// segmentFind finds the leftmost match of seg in u[from:], returning its
// start and end.
func segmentFind(u []byte, from int, seg string, last bool) (start, end int, ok bool) {
	lit := seg
	if k := strings.IndexByte(seg, '^'); k >= 0 {
		lit = seg[:k]
	}
	for i := from; i <= len(u); i++ {
		if lit != "" {
			k := bytes.Index(u[i:], []byte(lit))
			if k < 0 {
				return 0, 0, false
			}
			i += k
		}
		if e, ok := segmentAt(u, i, seg, last); ok {
			return i, e, true
		}
	}
	return 0, 0, false
}

// globAt matches pat (literals, * and ^) against u. With anchored it must
// match starting at i, else anywhere from i on; with anchorEnd it must match
// up to the end of u. Leftmost matching of each *-separated segment is
// enough: the segments hold no wildcards of their own.
func globAt(u []byte, i int, pat string, anchored, anchorEnd bool) bool {
	if anchored && !anchorEnd && strings.IndexByte(pat, '*') < 0 {
		_, ok := segmentAt(u, i, pat, true) // the common case: one segment at a known place
		return ok
	}
	first := true
	for {
		seg, rest, more := strings.Cut(pat, "*")
		last := !more || strings.Trim(rest, "*") == ""
		switch {
		case seg == "":
			// "**" or a leading/trailing *: nothing to match here.
		case first && anchored:
			e, ok := segmentAt(u, i, seg, last)
			if !ok {
				return false
			}
			i = e
		case !more && anchorEnd:
			// The final segment must end the URL. Trailing ^ may match the end
			// itself, so the segment can start up to that many bytes later.
			carets := len(seg) - len(strings.TrimRight(seg, "^"))
			for s := len(u) - len(seg); s <= len(u)-len(seg)+carets; s++ {
				if s < i {
					continue
				}
				if e, ok := segmentAt(u, s, seg, true); ok && e == len(u) {
					return true
				}
			}
			return false
		default:
			_, e, ok := segmentFind(u, i, seg, last)
			if !ok {
				return false
			}
			i = e
		}
		if !more {
			return !anchorEnd || i == len(u) || (seg == "" && !first)
		}
		first = false
		pat = rest
	}
}
