// Command prep writes the inputs of .ci/bench-dns: the blocklist for dnsmasq
// and unbound, converted from the lists pixelwall loads, and the dnsperf
// query files.
//
//	prep -easyprivacy FILE -domains FILE -requests ZIP -stub ADDR -out DIR
//
// The blocklist. pixelwall reads EasyPrivacy (Adblock syntax) and the
// domain list as they are; for a name it answers DNS queries with, it uses
// only the hostname-level rules ("||host^" with no options, domain-list
// names; each covering its subdomains) and whole-host exceptions. dnsmasq
// and unbound cannot read Adblock syntax, so they get the same hostname
// set, which prep derives with pixelwall's own matcher (package blocklist):
//
//   - candidates: every name of the domain list, and the host of every
//     EasyPrivacy line of the form ||host^ or ||host^$options; IP
//     addresses (a few in the domain list) are left out: no query names them;
//   - kept: the candidates pixelwall's MatchHost blocks (this keeps every
//     plain ||host^ rule and drops the ones with options, such as
//     $third-party or $script, which only the HTTP proxy can apply, unless
//     another rule blocks the host anyway);
//   - a name whose parent domain is kept is left out, since all three
//     servers block subdomains of a listed name (address=/d/ in dnsmasq, a
//     local-zone in unbound, a parent-domain walk in pixelwall): the same
//     answers with fewer entries;
//   - whole-host exceptions (@@||host^) under a kept name, which pixelwall
//     honours, are carved out: server=/host/STUB for dnsmasq and a
//     transparent local-zone for unbound.
//
// Written to DIR: dnsmasq-blocklist.conf (address=/name/# lines: 0.0.0.0
// for A and :: for AAAA, like pixelwall's null block mode),
// unbound-blocklist.conf (local-zone: "name." always_null), blocked.names
// (the kept names, one a line), queries-cached.txt, queries-blocked.txt,
// queries-forwarded.txt (dnsperf format: "name type") and prep.env (counts,
// as shell assignments).
//
// The queries. cached: the most frequent hostnames of the Cliqz top-500
// request corpus (real pages and what they load) that pixelwall does not
// block, with its embedded lists too, each asked as A and AAAA, in a fixed
// shuffled order. blocked: names drawn at random from the kept set (a fifth
// of them with an extra label in front, to exercise subdomain matching),
// A and AAAA; every one is checked to be blocked by pixelwall's matcher.
// forwarded: unique random names under fwd.example.net (not blocked), A, so
// that every query misses every cache and goes to the stub.
package main

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pixelwall/pixelwall/blocklist"
)

// ForwardedZone is where the unique forwarded names live.
const ForwardedZone = "fwd.example.net"

var hostRule = regexp.MustCompile(`^\|\|([A-Za-z0-9._-]+)\^(\$.*)?$`)

func main() {
	epPath := flag.String("easyprivacy", "", "EasyPrivacy `file`")
	domPath := flag.String("domains", "", "domain list `file` (one name a line)")
	reqPath := flag.String("requests", "", "request corpus `zip` (NDJSON requests.json with url and frameUrl)")
	stub := flag.String("stub", "127.0.0.1#53", "the stub upstream as dnsmasq writes it, `IP#PORT` (for carve-outs)")
	out := flag.String("out", ".", "output `directory`")
	nCached := flag.Int("cached", 300, "distinct names in the cached set")
	nBlocked := flag.Int("blocked", 10000, "names in the blocked set")
	nForwarded := flag.Int("forwarded", 500000, "unique names in the forwarded set")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *epPath == "" || *domPath == "" || *reqPath == "" {
		log.Fatal("prep: -easyprivacy, -domains and -requests are required")
	}
	rng := rand.New(rand.NewPCG(*seed, 0x70697865))

	ep := readFile(*epPath)
	dom := readFile(*domPath)
	// The same two lists pixelwall's config loads, with the same formats.
	m := blocklist.Compile(
		blocklist.Source{Name: "easyprivacy", Format: blocklist.FormatAdblock, Text: ep},
		blocklist.Source{Name: "blocklistproject-tracking", Format: blocklist.FormatDomains, Text: dom},
	)
	// What `pixelwall run` compiles: its embedded lists first.
	full := blocklist.Compile(append(blocklist.Defaults(),
		blocklist.Source{Name: "easyprivacy", Format: blocklist.FormatAdblock, Text: ep},
		blocklist.Source{Name: "blocklistproject-tracking", Format: blocklist.FormatDomains, Text: dom})...)

	var st struct {
		domainNames, epHostRules, epPlain, epWithOptions, epOptionsKept, notBlocked, ipLiterals, candidates, kept, covered, carve int
	}
	cand := map[string]bool{}
	var order []string
	add := func(h string) {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if !cand[h] {
			cand[h] = true
			order = append(order, h)
		}
	}
	for _, line := range strings.Split(dom, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		st.domainNames++
		add(line)
	}
	var exceptions []string
	for _, line := range strings.Split(ep, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "@@") {
			if g := hostRule.FindStringSubmatch(line[2:]); g != nil {
				exceptions = append(exceptions, strings.ToLower(g[1]))
			}
			continue
		}
		g := hostRule.FindStringSubmatch(line)
		if g == nil {
			continue
		}
		st.epHostRules++
		if g[2] == "" {
			st.epPlain++
		} else {
			st.epWithOptions++
			if m.MatchHost(g[1]).Action == blocklist.Block {
				st.epOptionsKept++
			}
		}
		add(g[1])
	}
	st.candidates = len(order)
	var kept []string
	keptSet := map[string]bool{}
	for _, h := range order {
		if _, err := netip.ParseAddr(h); err == nil {
			st.ipLiterals++ // an address in a domain list: no DNS query asks for it
			continue
		}
		if m.MatchHost(h).Action != blocklist.Block {
			st.notBlocked++
			continue
		}
		kept = append(kept, h)
		keptSet[h] = true
	}
	st.kept = len(kept)
	// covered reports whether a parent domain of h (not h itself) is kept.
	covered := func(set map[string]bool, h string) bool {
		for {
			i := strings.IndexByte(h, '.')
			if i < 0 {
				return false
			}
			h = h[i+1:]
			if set[h] {
				return true
			}
		}
	}
	var minimal []string
	for _, h := range kept {
		if covered(keptSet, h) {
			st.covered++
			continue
		}
		minimal = append(minimal, h)
	}
	sort.Strings(minimal)
	blockedBy := func(h string) bool { return keptSet[h] || covered(keptSet, h) }
	var carve []string
	for _, e := range exceptions {
		if blockedBy(e) && m.MatchHost(e).Action != blocklist.Block {
			carve = append(carve, e)
		}
	}
	sort.Strings(carve)
	carve = compactStrings(carve)
	st.carve = len(carve)

	// The blocklist files.
	var dm, ub, names strings.Builder
	dm.WriteString("# Converted by proxy/resolver/testdata/bench/prep from EasyPrivacy's hostname-level rules\n# and the blocklistproject tracking domain list: the names pixelwall blocks in DNS.\n")
	ub.WriteString("# Converted by proxy/resolver/testdata/bench/prep (see dnsmasq-blocklist.conf).\nserver:\n")
	for _, h := range minimal {
		fmt.Fprintf(&dm, "address=/%s/#\n", h)
		fmt.Fprintf(&ub, "local-zone: \"%s.\" always_null\n", h)
		names.WriteString(h + "\n")
	}
	for _, h := range carve {
		fmt.Fprintf(&dm, "server=/%s/%s\n", h, *stub)
		fmt.Fprintf(&ub, "local-zone: \"%s.\" transparent\n", h)
	}
	writeFile(*out, "dnsmasq-blocklist.conf", dm.String())
	writeFile(*out, "unbound-blocklist.conf", ub.String())
	writeFile(*out, "blocked.names", names.String())

	// Cached: popular hostnames that nothing blocks.
	hosts := corpusHosts(*reqPath)
	var cached []string
	for _, hc := range hosts {
		h := hc.host
		if len(cached) == *nCached {
			break
		}
		if !validName(h) || blockedBy(h) || full.MatchHost(h).Action == blocklist.Block || strings.HasSuffix(h, "."+ForwardedZone) {
			continue
		}
		cached = append(cached, h)
	}
	if len(cached) < *nCached {
		log.Fatalf("prep: only %d unblocked names in the corpus", len(cached))
	}
	var cq []string
	for _, h := range cached {
		cq = append(cq, h+" A", h+" AAAA")
	}
	rng.Shuffle(len(cq), func(i, j int) { cq[i], cq[j] = cq[j], cq[i] })
	writeFile(*out, "queries-cached.txt", strings.Join(cq, "\n")+"\n")

	// Blocked: drawn from the kept names.
	var bq []string
	prefixed := 0
	for len(bq) < *nBlocked {
		h := kept[rng.IntN(len(kept))]
		if rng.IntN(5) == 0 && len(h) < 240 {
			h = fmt.Sprintf("px%d.%s", rng.IntN(1000), h)
			prefixed++
		}
		if full.MatchHost(h).Action != blocklist.Block || !blockedBy(h) {
			continue // a carved-out exception's subdomain: not blocked by all three
		}
		t := "A"
		if rng.IntN(2) == 0 {
			t = "AAAA"
		}
		bq = append(bq, h+" "+t)
	}
	writeFile(*out, "queries-blocked.txt", strings.Join(bq, "\n")+"\n")

	// Forwarded: unique names, never cached.
	if full.MatchHost("x."+ForwardedZone).Action == blocklist.Block || blockedBy("x."+ForwardedZone) {
		log.Fatalf("prep: %s is blocked", ForwardedZone)
	}
	f, err := os.Create(filepath.Join(*out, "queries-forwarded.txt"))
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(f)
	seen := map[uint64]bool{}
	for len(seen) < *nForwarded {
		v := rng.Uint64() >> 4
		if seen[v] {
			continue
		}
		seen[v] = true
		fmt.Fprintf(w, "f%015x.%s A\n", v, ForwardedZone)
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	f.Close()

	env := fmt.Sprintf(`PREP_DOMAIN_NAMES=%d
PREP_EP_HOST_RULES=%d
PREP_EP_PLAIN=%d
PREP_EP_WITH_OPTIONS=%d
PREP_EP_OPTIONS_KEPT=%d
PREP_CANDIDATES=%d
PREP_NOT_BLOCKED=%d
PREP_IP_LITERALS=%d
PREP_KEPT=%d
PREP_COVERED=%d
PREP_ENTRIES=%d
PREP_CARVE=%d
PREP_CARVE_NAMES="%s"
PREP_CACHED=%d
PREP_BLOCKED=%d
PREP_BLOCKED_PREFIXED=%d
PREP_FORWARDED=%d
`, st.domainNames, st.epHostRules, st.epPlain, st.epWithOptions, st.epOptionsKept, st.candidates, st.notBlocked, st.ipLiterals,
		st.kept, st.covered, len(minimal), st.carve, strings.Join(carve, " "), len(cached), len(bq), prefixed, *nForwarded)
	writeFile(*out, "prep.env", env)
	fmt.Print(env)
}

func compactStrings(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

type hostCount struct {
	host string
	n    int
}

// corpusHosts counts the hostnames of the corpus's request and page URLs,
// most frequent first.
func corpusHosts(path string) []hostCount {
	zr, err := zip.OpenReader(path)
	if err != nil {
		log.Fatal(err)
	}
	defer zr.Close()
	counts := map[string]int{}
	for _, zf := range zr.File {
		if !strings.HasSuffix(zf.Name, ".json") {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			log.Fatal(err)
		}
		dec := json.NewDecoder(rc)
		for {
			var r struct {
				URL      string `json:"url"`
				FrameURL string `json:"frameUrl"`
			}
			if err := dec.Decode(&r); err == io.EOF {
				break
			} else if err != nil {
				log.Fatalf("prep: %s: %v", path, err)
			}
			for _, s := range []string{r.URL, r.FrameURL} {
				if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" {
					counts[strings.ToLower(u.Hostname())]++
				}
			}
		}
		rc.Close()
	}
	var out []hostCount
	for h, n := range counts {
		out = append(out, hostCount{h, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].host < out[j].host
	})
	return out
}

// validName accepts ordinary DNS names: letters, digits, '-', dots, at
// least one dot, not an IP literal.
func validName(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil || !strings.Contains(h, ".") || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return !strings.HasPrefix(h, ".") && !strings.HasSuffix(h, ".") && !strings.Contains(h, "..")
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	return string(b)
}

func writeFile(dir, name, text string) {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		log.Fatal(err)
	}
}
