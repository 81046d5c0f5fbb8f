package blocklist

import (
	"net/url"
	"strings"
)

// learnPattern is what follows "||" in a rule learned from rawURL: the
// host (with its port when the URL names one), the path with identifier
// segments as "*", and the query's parameter names with their values
// dropped. ok is false when the URL has no identifier (nothing to tell a
// beacon from the host's ordinary images) or nothing but identifiers (the
// rule would cover the whole host), or when it holds characters the filter
// syntax gives a meaning to.
func learnPattern(host, rawURL string) (pattern string, ok bool) {
	u, err := url.Parse(rawURL)
	// IPv6 literals are left alone: the filter syntax has no clear way to
	// anchor one with a port.
	if err != nil || u.Opaque != "" || !strings.EqualFold(u.Hostname(), host) || strings.Contains(host, ":") {
		return "", false
	}
	var b strings.Builder
	b.WriteString(host)
	if p := u.Port(); p != "" && !(u.Scheme == "http" && p == "80" || u.Scheme == "https" && p == "443") {
		b.WriteString(":" + p)
	}
	hasID, anchors := false, 0
	segs := strings.Split(u.EscapedPath(), "/")
	for i, seg := range segs {
		if i == 0 {
			if seg != "" {
				return "", false
			}
			continue
		}
		b.WriteByte('/')
		switch {
		case seg == "":
		case identifier(seg):
			hasID = true
			b.WriteByte('*')
			if ext := extension(seg); ext != "" {
				b.WriteString(ext)
			}
		case literalSafe(seg):
			anchors++
			b.WriteString(seg)
		default:
			return "", false
		}
	}
	if len(segs) < 2 {
		b.WriteByte('/')
	}
	if u.RawQuery != "" {
		b.WriteByte('?')
		for i, pair := range strings.Split(u.RawQuery, "&") {
			if i > 0 {
				b.WriteString("*&")
			}
			name, value, eq := strings.Cut(pair, "=")
			if !eq && identifier(name) {
				// "?<id>" (as some ESPs' open.aspx): the identifier is the
				// whole query.
				hasID = true
				b.WriteByte('*')
				continue
			}
			if name == "" || !literalSafe(name) {
				return "", false
			}
			if v, err := url.QueryUnescape(value); err == nil && identifier(v) {
				hasID = true
			}
			b.WriteString(name + "=")
			anchors++
		}
	}
	return b.String(), hasID && anchors > 0
}

// identifier reports whether a path segment or query value looks like it
// names a reader, a message or a send: an e-mail address; or, its
// extension aside, a long segment, a long run of digits, of hex or of
// mixed-case base64, or a token mixing letters and digits.
func identifier(s string) bool {
	if strings.Contains(s, "@") || strings.Contains(s, "%40") {
		return true
	}
	s = strings.TrimSuffix(s, extension(s))
	if len(s) >= 24 {
		return true
	}
	var letters, digits, upper, lower, hex int
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
			hex++
		case c >= 'a' && c <= 'z':
			letters++
			lower++
			if c <= 'f' {
				hex++
			}
		case c >= 'A' && c <= 'Z':
			letters++
			upper++
			if c <= 'F' {
				hex++
			}
		case c == '-' || c == '_' || c == '=' || c == '+' || c == '%' || c == '.' || c == '~':
		default:
			return false
		}
	}
	switch {
	case digits >= 5 && letters == 0:
		return true // numeric IDs, timestamps
	case hex == letters+digits && digits > 0 && hex >= 8:
		return true // hex IDs, UUIDs
	case letters > 0 && digits > 0 && letters+digits >= 6:
		return true // mixed tokens
	case upper > 0 && lower > 0 && len(s) >= 16:
		return true // base64
	}
	return false
}

// extension is a short file extension of letters (".gif"), or "".
func extension(s string) string {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || len(s)-i > 5 || len(s)-i < 2 {
		return ""
	}
	for _, c := range []byte(s[i+1:]) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return ""
		}
	}
	return s[i:]
}

// literalSafe reports whether s can stand in a filter pattern as itself:
// no '*', '^', '|', '$' or other characters the syntax reads.
func literalSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(lowerASCII(c)) || strings.IndexByte("-._~%!'()+,;:@", c) >= 0) {
			return false
		}
	}
	return true
}

// redactQuery returns rawURL with its query values removed, names kept.
func redactQuery(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	u.User, u.Fragment = nil, ""
	if u.RawQuery != "" {
		pairs := strings.Split(u.RawQuery, "&")
		for i, p := range pairs {
			name, _, _ := strings.Cut(p, "=")
			pairs[i] = name + "="
		}
		u.RawQuery = strings.Join(pairs, "&")
	}
	return u.String()
}
