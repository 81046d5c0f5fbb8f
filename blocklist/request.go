package blocklist

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Request is one request, normalised once so that matching never re-parses:
// the lower-cased URL, its hostname and registrable domain, the same for the
// page that made it, its type, and whether it is third-party.
//
// A Request is not safe for concurrent modification; a Matcher only reads it.
// Reset reuses its buffers, so a caller matching many requests in a loop can
// keep one Request and allocate nothing.
type Request struct {
	URL  string // as given
	Host string // lower-case hostname, without port or trailing dot

	SourceURL  string // the page (frame) that made the request; may be empty
	SourceHost string // empty when the source is unknown

	Type Type
	// ThirdParty is true when the registrable domains (eTLD+1) of Host and
	// SourceHost differ, and also when the source is unknown, as in uBlock
	// Origin and adblock-rust.
	ThirdParty bool

	lower     []byte  // URL, ASCII lower-cased
	orig      []byte  // URL as bytes, for $match-case rules
	hostStart int     // offsets of the hostname in URL and lower
	hostEnd   int     //
	tokens    []token // the alphanumeric runs of lower
}

// token is a run of [a-z0-9] in the lower-cased URL: its hash and where it starts.
type token struct {
	hash uint32
	pos  int32
}

// Domain returns the registrable domain of Host (eTLD+1 by the public
// suffix list); for IP addresses and bare public suffixes, Host itself.
func (r *Request) Domain() string { return registrable(r.Host) }

// SourceDomain is Domain for SourceHost; empty when the source is unknown.
func (r *Request) SourceDomain() string {
	if r.SourceHost == "" {
		return ""
	}
	return registrable(r.SourceHost)
}

// ErrURL is wrapped by the errors NewRequest and Reset return for a URL that
// cannot be matched.
var ErrURL = errors.New("invalid request URL")

// NewRequest builds a Request. sourceURL may be empty or unparseable (for
// example "about:blank"): the request is then treated as having no known page.
func NewRequest(rawURL, sourceURL string, t Type) (*Request, error) {
	r := new(Request)
	if err := r.Reset(rawURL, sourceURL, t); err != nil {
		return nil, err
	}
	return r, nil
}

// Reset re-initialises r for another request, reusing its buffers.
func (r *Request) Reset(rawURL, sourceURL string, t Type) error {
	hs, he, err := splitHost(rawURL)
	if err != nil {
		return err
	}
	*r = Request{lower: r.lower[:0], orig: r.orig[:0], tokens: r.tokens[:0]}
	r.URL, r.SourceURL, r.Type = rawURL, sourceURL, t
	r.hostStart, r.hostEnd = hs, he
	r.Host = lowerHost(rawURL[hs:he])

	if sourceURL != "" { // (no error to build for the common case of none)
		if shs, she, err := splitHost(sourceURL); err == nil {
			r.SourceHost = lowerHost(sourceURL[shs:she])
		}
	}
	r.ThirdParty = thirdParty(r.Host, r.SourceHost)

	r.orig = append(r.orig, rawURL...)
	r.lower, r.tokens = lowerAndTokenize(r.lower, r.tokens, rawURL)
	return nil
}

// thirdParty compares registrable domains, consulting the public suffix list
// only when it has to: hosts whose last two labels differ cannot share an
// eTLD+1, which always ends in two labels.
func thirdParty(host, source string) bool {
	switch {
	case source == "":
		return true
	case host == source:
		return false
	case lastLabels(host, 2) != lastLabels(source, 2):
		return true
	}
	return registrable(host) != registrable(source)
}

// lastLabels returns the last n dot-separated labels of host.
func lastLabels(host string, n int) string {
	i := len(host)
	for ; n > 0 && i > 0; n-- {
		i = strings.LastIndexByte(host[:i], '.')
		if i < 0 {
			return host
		}
	}
	return host[i+1:]
}

// splitHost finds the hostname in an absolute URL (scheme://[user@]host[:port]...).
// It returns offsets into rawURL, excluding IPv6 brackets and a trailing dot.
func splitHost(rawURL string) (start, end int, err error) {
	switch {
	case strings.HasPrefix(rawURL, "https://"):
		start = 8
	case strings.HasPrefix(rawURL, "http://"):
		start = 7
	default:
		i := strings.Index(rawURL, "://")
		if i <= 0 {
			return 0, 0, fmt.Errorf("%w %q: not an absolute URL", ErrURL, rawURL)
		}
		for j := 0; j < i; j++ {
			if c := rawURL[j]; !isAlnum(lowerASCII(c)) && c != '+' && c != '-' && c != '.' {
				return 0, 0, fmt.Errorf("%w %q: bad scheme", ErrURL, rawURL)
			}
		}
		start = i + 3
	}
	// One pass over the authority: it ends at the path, query or fragment;
	// the host starts after the last '@' and ends at a port's ':'.
	end = len(rawURL)
	colon := -1
	for j := start; j < len(rawURL); j++ {
		c := rawURL[j]
		if c == '/' || c == '?' || c == '#' || c == '\\' {
			end = j
			break
		}
		switch {
		case c == '@':
			start, colon = j+1, -1
		case c == ':' && colon < 0:
			colon = j
		case c <= ' ' || c == 0x7f:
			return 0, 0, fmt.Errorf("%w %q: control or space in host", ErrURL, rawURL)
		}
	}
	if start < end && rawURL[start] == '[' {
		k := strings.IndexByte(rawURL[start:end], ']')
		if k < 0 {
			return 0, 0, fmt.Errorf("%w %q: unclosed IPv6 literal", ErrURL, rawURL)
		}
		start, end = start+1, start+k
	} else if colon >= 0 {
		end = colon
	}
	if end > start && rawURL[end-1] == '.' {
		end--
	}
	if start >= end {
		return 0, 0, fmt.Errorf("%w %q: no host", ErrURL, rawURL)
	}
	return start, end, nil
}

// lowerHost lower-cases ASCII letters only (URLs are matched byte for byte
// against ASCII-lower-cased patterns), allocating only when it has upper case.
func lowerHost(h string) string {
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			b := []byte(h)
			for j := i; j < len(b); j++ {
				b[j] = lowerASCII(b[j])
			}
			return string(b)
		}
	}
	return h
}

// registrable returns the registrable domain (eTLD+1) of a lower-case host.
// It does not allocate.
func registrable(host string) string {
	if isIP(host) {
		return host
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return host
	}
	return d
}

// isIPLiteral reports whether s is exactly an IP address (no port, no brackets).
func isIPLiteral(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// isIP is a fast check for hosts taken from URLs, which have no port.
func isIP(host string) bool {
	if strings.IndexByte(host, ':') >= 0 {
		return true
	}
	if host == "" || host[len(host)-1] < '0' || host[len(host)-1] > '9' {
		return false // fast path: names end in a letter
	}
	_, err := netip.ParseAddr(host)
	return err == nil
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// byteClass holds, for every byte, its ASCII lower case and whether it is
// part of a token (1) or not (0).
var byteClass = func() (t [256]struct{ lower, alnum uint8 }) {
	for c := range 256 {
		t[c].lower = lowerASCII(byte(c))
		if isAlnum(t[c].lower) {
			t[c].alnum = 1
		}
	}
	return t
}()

// lowerAndTokenize lower-cases s into lower and appends its tokens in one
// pass. Tokens are the maximal runs of [a-z0-9]; rules are indexed by one
// token that any URL they match must contain as a whole run. Single
// characters are too common to index by and are skipped. A plain byte loop:
// URLs mix short runs too irregularly for branch-free or SWAR versions to
// pay (the README's benchmark section has the measurements).
func lowerAndTokenize(lower []byte, toks []token, s string) ([]byte, []token) {
	lower = append(lower, s...)
	var h uint32
	n := 0
	for i, c := range lower {
		cl := byteClass[c]
		lower[i] = cl.lower
		if cl.alnum != 0 {
			h = bits.RotateLeft32(h, 5) ^ uint32(cl.lower)
			n++
			continue
		}
		if n > 1 {
			toks = append(toks, token{finishHash(h), int32(i - n)})
		}
		h, n = 0, 0
	}
	if n > 1 {
		toks = append(toks, token{finishHash(h), int32(len(lower) - n)})
	}
	return lower, toks
}

// tokenHash hashes a lower-case token as lowerAndTokenize does: a cheap
// rotate-xor per byte (one dependent step per byte), mixed once at the end.
func tokenHash(tok string) uint32 {
	var h uint32
	for i := 0; i < len(tok); i++ {
		h = bits.RotateLeft32(h, 5) ^ uint32(tok[i])
	}
	return finishHash(h)
}

// finishHash spreads the bits for table indexing and keeps 0 free to mark
// empty slots.
func finishHash(h uint32) uint32 {
	h ^= h >> 15
	h *= 0x2c1b3c6d
	h ^= h >> 12
	if h == 0 {
		return 1
	}
	return h
}

// RegistrableDomain returns the registrable domain (eTLD+1) of a host, or
// the host itself for IP addresses and bare public suffixes.
func RegistrableDomain(host string) string { return registrable(lowerHost(host)) }
