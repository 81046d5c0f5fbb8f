package blocklist

import (
	"strings"
)

// looksLikeHostsLine accepts hosts-file lines inside Adblock lists, as
// uBlock Origin does.
func looksLikeHostsLine(line string) bool {
	if line[0] != '0' && line[0] != '1' && line[0] != ':' {
		return false
	}
	sp := strings.IndexAny(line, " \t")
	return sp > 0 && isHostsAddr(line[:sp])
}

// addHostLine reads a hosts-file or domain-list line.
func (m *Matcher) addHostLine(st *ListStats, list uint16, lowered *strings.Builder, n, off int, line string, domains bool) {
	body := line
	if i := strings.IndexByte(body, '#'); i >= 0 {
		body = body[:i]
	}
	fields := body
	next := func() (string, int) {
		fields = strings.TrimLeft(fields, " \t")
		if fields == "" {
			return "", 0
		}
		at := len(body) - len(fields)
		end := strings.IndexAny(fields, " \t")
		if end < 0 {
			end = len(fields)
		}
		f := fields[:end]
		fields = fields[end:]
		return f, at
	}
	if !domains {
		addr, _ := next()
		if !isHostsAddr(addr) {
			st.bad(n, line, errHostsAddr)
			return
		}
	}
	count := 0
	for {
		name, at := next()
		if name == "" {
			break
		}
		if domains && count > 0 {
			st.bad(n, line, errDomainsExtra)
			return
		}
		count++
		kskip, klen := 0, len(name)
		switch {
		case strings.HasPrefix(name, "||") && strings.HasSuffix(name, "^"):
			kskip, klen = 2, len(name)-3 // AdGuard Home style in a domain list
		case strings.HasPrefix(name, "*."):
			kskip, klen = 2, len(name)-2 // wildcard: we match subdomains anyway
		}
		host := name[kskip : kskip+klen]
		if hostsIgnored[strings.ToLower(host)] {
			continue
		}
		if !validHostname(host) && !isIPLiteral(host) {
			st.bad(n, line, errHostname)
			return
		}
		m.addHost(st, list, lowered, off+at, len(name), kskip, host)
	}
	if count == 0 {
		st.bad(n, line, errNoName)
	}
}

const (
	errHostsAddr    = compileError("hosts line does not start with an IP address")
	errDomainsExtra = compileError("more than one domain on a line")
	errHostname     = compileError("not a valid hostname")
	errNoName       = compileError("no hostname")
)

// addHost stores a hostname rule whose text is text[off:off+tlen] in the
// list's own text, with the hostname kskip bytes in.
func (m *Matcher) addHost(st *ListStats, list uint16, lowered *strings.Builder, off, tlen, kskip int, host string) {
	st.Hostnames++
	e := hostEntry{off: uint32(off), tlen: uint16(tlen), text: list, list: list, kskip: uint8(kskip), klen: uint8(len(host))}
	if strings.HasSuffix(host, ".") || lowerHost(host) != host {
		lh := strings.TrimSuffix(lowerHost(host), ".")
		e = hostEntry{off: uint32(lowered.Len()), tlen: uint16(len(lh)), text: uint16(len(m.hosts.texts) - 1), list: list, klen: uint8(len(lh))}
		lowered.WriteString(lh)
	}
	m.hosts.entries = append(m.hosts.entries, e)
}
