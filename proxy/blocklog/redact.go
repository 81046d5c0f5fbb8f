package blocklog

import (
	"net/netip"
	"strings"
)

// redacted replaces every redacted query value.
const redacted = "…"

// redactURL returns raw without its fragment and user info and with every
// query value replaced by "…": "https://u:p@esp.test/o?email=a%40b.c&id=42#x"
// becomes "https://esp.test/o?email=…&id=…". Parameter names are kept as
// they are written; an empty value stays empty ("a=" → "a="), and a
// segment without "=" is taken for a value ("?a1b2c3" → "?…"), since bare
// tokens, session ids and cache busters often travel that way.
func redactURL(raw string) string {
	raw = stripURL(raw)
	base, query, ok := strings.Cut(raw, "?")
	if !ok {
		return raw
	}
	if query == "" {
		return base
	}
	var b strings.Builder
	b.Grow(len(raw))
	b.WriteString(base)
	b.WriteByte('?')
	first := true
	for query != "" {
		var part string
		part, query, _ = strings.Cut(query, "&")
		if part == "" {
			continue
		}
		if !first {
			b.WriteByte('&')
		}
		first = false
		name, value, hasValue := strings.Cut(part, "=")
		switch {
		case !hasValue:
			b.WriteString(redacted)
		case value == "":
			b.WriteString(part)
		default:
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(redacted)
		}
	}
	return b.String()
}

// stripURL removes raw's fragment and user info (credentials), which are
// never logged even when query values are kept.
func stripURL(raw string) string {
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	authority := raw[i+3:]
	if j := strings.IndexAny(authority, "/?"); j >= 0 {
		authority = authority[:j]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return raw
	}
	return raw[:i+3] + raw[i+3+at+1:]
}

// isURL reports whether s looks like an absolute HTTP(S) URL.
func isURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// anonymize truncates an IP address (optionally with a port or a zone) to
// its network: IPv4 to its /24, IPv6 to its /48. Anything that is not an
// address is returned as it is.
func anonymize(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		ap, err := netip.ParseAddrPort(client)
		if err != nil {
			return client
		}
		a = ap.Addr()
	}
	a = a.WithZone("").Unmap()
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return client
	}
	return p.Addr().String()
}
