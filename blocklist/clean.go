package blocklist

import (
	"slices"
	"strings"
)

// paramSpec is what a $removeparam rule removes.
type paramSpec struct {
	all    bool        // no value: every parameter
	invert bool        // ~: every parameter but the ones matched
	name   string      // exact, case-sensitive name
	prefix string      // from /^literal/
	re     *lazyRegexp // other regexes, tested against "name=value"
}

func newParamSpec(v string) paramSpec {
	var p paramSpec
	if v == "" {
		p.all = true
		return p
	}
	if strings.HasPrefix(v, "~") {
		p.invert = true
		v = v[1:]
	}
	if len(v) >= 2 && v[0] == '/' {
		src, fold, err := paramRegexp(v)
		if err == nil && !fold && len(src) > 1 && src[0] == '^' && isPlainParamName(src[1:]) {
			p.prefix = src[1:]
			return p
		}
		if fold {
			src = "(?i)" + src
		}
		p.re = &lazyRegexp{src: src}
		return p
	}
	p.name = v
	return p
}

func isPlainParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(lowerASCII(c)) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func (p *paramSpec) matches(name, pair string) bool {
	var hit bool
	switch {
	case p.all:
		return true
	case p.name != "":
		hit = name == p.name
	case p.prefix != "":
		hit = strings.HasPrefix(name, p.prefix)
	default:
		hit = p.re.get().MatchString(pair)
	}
	return hit != p.invert
}

// Clean returns req's URL without the query parameters that tracking
// parameter ($removeparam) rules remove, and the names removed (each once).
// When nothing is removed it returns req.URL and nil without allocating.
// Parameter names are compared as written, case-sensitively; the remaining
// parameters keep their order and encoding, and the fragment is kept.
func (m *Matcher) Clean(req *Request) (string, []string) {
	if m.removeParam.size == 0 && len(m.params) == 0 {
		return req.URL, nil
	}
	u := req.URL
	q := strings.IndexByte(u[req.hostEnd:], '?')
	if q < 0 || strings.IndexByte(u[req.hostEnd:req.hostEnd+q], '#') >= 0 {
		return u, nil
	}
	var hits hostHits
	m.findHostHits(req.Host, &hits)
	var rbuf, kbuf [8]int32
	remove := m.removeParam.all(m, req, &hits, rbuf[:0])
	keep := m.keepParam.all(m, req, &hits, kbuf[:0])
	for _, k := range keep {
		if m.extras[m.rules[k].extra].param.all {
			return req.URL, nil // @@…$removeparam: leave this URL alone
		}
	}

	qStart := req.hostEnd + q + 1
	qEnd := len(u)
	if i := strings.IndexByte(u[qStart:], '#'); i >= 0 {
		qEnd = qStart + i
	}
	var out strings.Builder
	var removed []string
	for pos := qStart; pos <= qEnd; {
		end := strings.IndexByte(u[pos:qEnd], '&')
		if end < 0 {
			end = qEnd - pos
		}
		pair := u[pos : pos+end]
		name, _, _ := strings.Cut(pair, "=")
		if pair != "" && m.removes(req, name, pair, remove, keep) {
			if removed == nil {
				out.Grow(len(u))
				out.WriteString(u[:pos])
			}
			if !slices.Contains(removed, name) {
				removed = append(removed, name)
			}
		} else if removed != nil && pair != "" {
			out.WriteString(pair)
			out.WriteByte('&')
		}
		pos += end + 1
	}
	if removed == nil {
		return u, nil
	}
	s := strings.TrimRight(out.String(), "&")
	s = strings.TrimSuffix(s, "?")
	return s + u[qEnd:], removed
}

func (m *Matcher) removes(req *Request, name, pair string, remove, keep []int32) bool {
	hit := false
	if i, ok := m.params[name]; ok && m.matches(&m.rules[i], req, -1) {
		hit = true
	}
	for _, r := range remove {
		if hit {
			break
		}
		hit = m.extras[m.rules[r].extra].param.matches(name, pair)
	}
	if !hit {
		return false
	}
	for _, k := range keep {
		if m.extras[m.rules[k].extra].param.matches(name, pair) {
			return false
		}
	}
	return true
}
