package blocklist

import (
	"fmt"
	"net/netip"
	"strings"
)

// Format is the syntax of a list.
type Format uint8

const (
	FormatAuto    Format = iota // detect from the content
	FormatAdblock               // Adblock Plus / uBlock Origin / AdGuard filters
	FormatHosts                 // hosts file: "0.0.0.0 tracker.example"
	FormatDomains               // one domain a line
)

func (f Format) String() string {
	return [...]string{"auto", "adblock", "hosts", "domains"}[f]
}

// ParseFormat maps a config value to a Format; "" is FormatAuto.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return FormatAuto, nil
	case "adblock", "abp", "ublock", "adguard":
		return FormatAdblock, nil
	case "hosts":
		return FormatHosts, nil
	case "domains", "domain", "plain":
		return FormatDomains, nil
	}
	return 0, fmt.Errorf("unknown list format %q (want adblock, hosts or domains)", s)
}

// Source is one list to compile: its name (for decisions and logs), format
// and whole text.
type Source struct {
	Name   string
	Format Format
	Text   string
}

// BadLine is a line that could not be used.
type BadLine struct {
	Line int    // 1-based
	Text string // the line, trimmed
	Err  string
}

func (b BadLine) String() string { return fmt.Sprintf("line %d: %s: %q", b.Line, b.Err, b.Text) }

// maxBadLines is how many bad lines a ListStats keeps verbatim; all are counted.
const maxBadLines = 20

// ListStats says what a Matcher made of one list.
type ListStats struct {
	Name   string
	Format Format // as detected when the source said FormatAuto
	Lines  int

	Hostnames   int // hostname entries (hosts, domains, and option-less ||host^ rules)
	Blocking    int // other blocking rules
	Exceptions  int // @@ rules
	Important   int // $important rules
	RemoveParam int // $removeparam rules, exceptions included
	Redirect    int // $redirect-rule rules
	Cosmetic    int // element hiding and scriptlet rules, skipped
	Comments    int // comments and blank lines
	Inert       int // rules kept out because of options we do not act on
	// InertOptions counts those rules by option name.
	InertOptions map[string]int
	BadFiltered  int // rules cancelled by a $badfilter twin
	Duplicates   int // hostnames already listed

	BadCount int       // lines that could not be parsed
	Bad      []BadLine // the first maxBadLines of them
}

// Rules is the number of rules from this list the Matcher uses.
func (s *ListStats) Rules() int {
	return s.Hostnames + s.Blocking + s.Exceptions + s.Important + s.RemoveParam + s.Redirect - s.Duplicates
}

func (s *ListStats) bad(line int, text string, err error) {
	s.BadCount++
	if len(s.Bad) < maxBadLines {
		s.Bad = append(s.Bad, BadLine{Line: line, Text: text, Err: err.Error()})
	}
}

// lines calls fn for every line of text with its 1-based number and its
// offset in text, without the line terminator.
func lines(text string, fn func(n, off int, line string)) int {
	n := 0
	for off := 0; off < len(text); {
		end := strings.IndexByte(text[off:], '\n')
		next := off + end + 1
		if end < 0 {
			end, next = len(text)-off, len(text)
		}
		line := text[off : off+end]
		line = strings.TrimSuffix(line, "\r")
		n++
		fn(n, off, line)
		off = next
	}
	return n
}

// detectFormat looks at the first hundred meaningful lines: a list is hosts
// or domains only when nearly all of them are.
func detectFormat(text string) Format {
	var hosts, domains, either, other, seen int
	lines(text, func(_, _ int, line string) {
		line = strings.TrimSpace(line)
		if seen >= 100 || line == "" || line[0] == '#' || line[0] == '!' {
			return
		}
		if line[0] == '[' {
			other += 100 // [Adblock Plus 2.0]
			return
		}
		seen++
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && isHostsAddr(f[0]):
			hosts++
		case len(f) >= 1 && validHostname(domainListName(f[0])) && (len(f) == 1 || f[1][0] == '#'):
			if strings.HasPrefix(f[0], "||") {
				either++ // "||name^" means the same in both formats
			} else {
				domains++
			}
		default:
			other++
		}
	})
	total := hosts + domains + either + other
	switch {
	case total == 0:
		return FormatAdblock
	case hosts*10 >= total*9:
		return FormatHosts
	case domains > 0 && (domains+either)*10 >= total*9:
		return FormatDomains
	}
	return FormatAdblock
}

func isHostsAddr(s string) bool {
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i] // fe80::1%lo0
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// validHostname accepts names of letters, digits, '-', '_' and dots, with at
// least one dot, as lists use them.
func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 || h[0] == '.' || h[len(h)-1] == '.' || strings.IndexByte(h, '.') < 0 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !isAlnum(lowerASCII(c)) && c != '-' && c != '_' && c != '.' {
			return false
		}
		if c == '.' && h[i-1] == '.' {
			return false
		}
	}
	return true
}

// domainListName strips the decorations domain lists put on names: "*."
// and AdGuard Home's "||name^".
func domainListName(s string) string {
	if strings.HasPrefix(s, "||") && strings.HasSuffix(s, "^") {
		return s[2 : len(s)-1]
	}
	return strings.TrimPrefix(s, "*.")
}

// hostsIgnored are the names every hosts file maps for the system itself.
var hostsIgnored = map[string]bool{
	"localhost": true, "localhost.localdomain": true, "local": true, "broadcasthost": true,
	"ip6-localhost": true, "ip6-loopback": true, "ip6-localnet": true, "ip6-mcastprefix": true,
	"ip6-allnodes": true, "ip6-allrouters": true, "ip6-allhosts": true, "0.0.0.0": true,
}
