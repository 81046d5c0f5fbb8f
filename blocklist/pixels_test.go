package blocklist

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// pixelCase is one line of testdata/pixels/pixels.jsonl or ordinary.jsonl:
// a request as a client sends it (see testdata/pixels/README.md).
type pixelCase struct {
	Category string `json:"category"` // pixels only
	Vendor   string `json:"vendor"`   // pixels only
	What     string `json:"what"`     // ordinary only
	Client   string `json:"client"`
	Dest     string `json:"dest"` // Sec-Fetch-Dest; empty when the client sends none
	Accept   string `json:"accept"`
	UA       string `json:"ua"`
	Source   string `json:"source"` // the page that made the request; empty for none
	URL      string `json:"url"`
	line     int
}

func loadPixelCases(t *testing.T, name string) []pixelCase {
	t.Helper()
	f, err := os.Open("testdata/pixels/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []pixelCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var c pixelCase
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s:%d: %v", name, n, err)
		}
		if c.URL == "" {
			t.Fatalf("%s:%d: no url", name, n)
		}
		c.line = n
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// headerType types a request the way the proxy does from its headers: a
// top-level document only when Sec-Fetch-Dest says so or Accept asks for
// HTML; otherwise Accept's image, script or CSS types, then the path's
// extension, then other.
func headerType(dest, accept, rawURL string) Type {
	switch dest {
	case "":
	case "document":
		return TypeDocument
	case "iframe", "frame", "fencedframe":
		return TypeSubdocument
	case "image":
		return TypeImage
	case "script", "worker", "sharedworker", "serviceworker", "audioworklet", "paintworklet":
		return TypeScript
	case "style":
		return TypeStylesheet
	case "font":
		return TypeFont
	case "audio", "video", "track":
		return TypeMedia
	case "object", "embed":
		return TypeObject
	case "empty":
		return TypeXMLHTTPRequest
	default:
		return TypeOther
	}
	switch {
	case strings.HasPrefix(accept, "text/html"), strings.HasPrefix(accept, "application/xhtml"):
		return TypeDocument
	case strings.HasPrefix(accept, "image/"):
		return TypeImage
	case strings.HasPrefix(accept, "text/css"):
		return TypeStylesheet
	case strings.Contains(accept, "javascript"):
		return TypeScript
	case strings.HasPrefix(accept, "application/json"):
		return TypeXMLHTTPRequest
	}
	path := rawURL
	if i := strings.Index(path, "://"); i >= 0 {
		path = path[i+3:]
	}
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[i:]
	} else {
		path = "/"
	}
	if t, ok := TypeFromExtension(path); ok && t != TypeSubdocument {
		return t
	}
	return TypeOther
}

func (c pixelCase) request(t *testing.T, name string) *Request {
	t.Helper()
	req, err := NewRequest(c.URL, c.Source, headerType(c.Dest, c.Accept, c.URL))
	if err != nil {
		t.Fatalf("%s:%d: %v", name, c.line, err)
	}
	return req
}

// pixelCategories is the report order; tag-script is last because it is
// asserted only once the list serves stand-ins for tag scripts.
var pixelCategories = []string{"email-open", "analytics", "conversion", "retargeting", "social", "tag-script"}

type recall struct{ hit, all int }

func (r recall) String() string {
	if r.all == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d (%.1f%%)", r.hit, r.all, 100*float64(r.hit)/float64(r.all))
}

func (r recall) rate() float64 { return float64(r.hit) / float64(r.all) }

// measurePixels returns, per category and for the non-tag-script total
// ("pixels") and the total with tag scripts ("all"), how many corpus pixels
// m blocks: stopped before the tracker is contacted.
func measurePixels(t *testing.T, m *Matcher, cases []pixelCase, misses *[]string) map[string]recall {
	out := map[string]recall{}
	for _, c := range cases {
		d := m.Match(c.request(t, "pixels.jsonl"))
		hit := 0
		if d.Action == Block {
			hit = 1
		} else if misses != nil {
			*misses = append(*misses, fmt.Sprintf("%s %s %s", c.Category, c.Vendor, c.URL))
		}
		for _, k := range []string{c.Category, "all"} {
			r := out[k]
			r.hit += hit
			r.all++
			out[k] = r
		}
		if c.Category != "tag-script" {
			r := out["pixels"]
			r.hit += hit
			r.all++
			out["pixels"] = r
		}
	}
	return out
}

// hasTagStandIns reports whether the embedded list serves a stand-in for
// Meta's fbevents.js, the sign that tag scripts are meant to be stopped.
func hasTagStandIns() bool {
	for _, line := range strings.Split(defaultList, "\n") {
		if !strings.HasPrefix(line, "!") && strings.Contains(line, "fbevents.js") && strings.Contains(line, "redirect") {
			return true
		}
	}
	return false
}

// TestPixelCorpus measures the embedded lists on our own pixel corpus (per
// category, before contact: the matcher blocks the request) and requires that
// they break nothing in the ordinary-request corpus. It prints the table the
// README's "Pixel coverage" section quotes.
func TestPixelCorpus(t *testing.T) {
	pixels := loadPixelCases(t, "pixels.jsonl")
	ordinary := loadPixelCases(t, "ordinary.jsonl")
	vendors := map[string]bool{}
	for _, c := range pixels {
		if !slices.Contains(pixelCategories, c.Category) {
			t.Fatalf("pixels.jsonl:%d: unknown category %q", c.line, c.Category)
		}
		if c.Vendor == "" {
			t.Fatalf("pixels.jsonl:%d: no vendor", c.line)
		}
		vendors[c.Vendor] = true
	}
	if len(pixels) < 400 || len(vendors) < 300 || len(ordinary) < 300 {
		t.Fatalf("corpus too small: %d pixels from %d vendors, %d ordinary requests", len(pixels), len(vendors), len(ordinary))
	}

	embedded := Compile(Defaults()...)
	var misses []string
	alone := measurePixels(t, embedded, pixels, &misses)

	// False positives: no ordinary request may be blocked, by the embedded
	// lists or (reported, not asserted: EasyPrivacy is not ours) with EasyPrivacy.
	fp := 0
	for _, c := range ordinary {
		if d := embedded.Match(c.request(t, "ordinary.jsonl")); d.Action == Block {
			fp++
			t.Errorf("ordinary.jsonl:%d: %s blocked by %q: %s", c.line, c.What, d.Rule, c.URL)
		}
	}

	var withEP map[string]recall
	epFP := -1
	if b, err := os.ReadFile(sharedDataPath("easyprivacy.txt")); err == nil {
		m := Compile(append(Defaults(), Source{Name: "easyprivacy", Format: FormatAdblock, Text: string(b)})...)
		withEP = measurePixels(t, m, pixels, nil)
		epFP = 0
		for _, c := range ordinary {
			if d := m.Match(c.request(t, "ordinary.jsonl")); d.Action == Block {
				epFP++
				t.Logf("with EasyPrivacy, ordinary.jsonl:%d blocked by %q: %s", c.line, d.Rule, c.URL)
			}
		}
	}

	var tbl strings.Builder
	fmt.Fprintf(&tbl, "%d pixels from %d vendors; %d ordinary requests\n\n", len(pixels), len(vendors), len(ordinary))
	tbl.WriteString("| Category | Embedded lists alone | With EasyPrivacy |\n|---|---|---|\n")
	for _, k := range append(pixelCategories, "pixels", "all") {
		name := k
		switch k {
		case "pixels":
			name = "**all but tag scripts**"
		case "all":
			name = "**all**"
		}
		ep := "(EasyPrivacy absent)"
		if withEP != nil {
			ep = withEP[k].String()
		}
		fmt.Fprintf(&tbl, "| %s | %s | %s |\n", name, alone[k], ep)
	}
	fmt.Fprintf(&tbl, "| ordinary requests blocked | %d/%d | %s |\n", fp, len(ordinary), epFPString(epFP, len(ordinary)))
	t.Logf("pixel coverage, stopped before contact:\n%s", tbl.String())
	sort.Strings(misses)
	for _, m := range misses {
		t.Logf("not stopped by the embedded lists: %s", m)
	}

	key, what := "pixels", "all but tag scripts"
	if hasTagStandIns() {
		key, what = "all", "all categories"
	} else {
		t.Logf("tag-script recall is reported, not asserted: default.txt has no redirect rule for fbevents.js yet")
	}
	if r := alone[key]; r.rate() < 0.92 {
		t.Errorf("embedded lists stop %s of pixels (%s) before contact, want ≥ 92%%", r, what)
	}
	if withEP == nil {
		t.Skipf("EasyPrivacy half skipped: shared test data absent (set PIXELWALL_DATA to the directory holding easyprivacy.txt)")
	}
	if r := withEP[key]; r.rate() < 0.96 {
		t.Errorf("embedded lists with EasyPrivacy stop %s of pixels (%s) before contact, want ≥ 96%%", r, what)
	}
}

func epFPString(n, of int) string {
	if n < 0 {
		return "(EasyPrivacy absent)"
	}
	return fmt.Sprintf("%d/%d", n, of)
}

// sharedDataPath is sharedData without the skip, for a test whose other
// half still runs when the shared data is absent.
func sharedDataPath(name string) string {
	dir := os.Getenv("PIXELWALL_DATA")
	if dir == "" {
		wd, _ := os.Getwd()
		for d := wd; filepath.Dir(d) != d; d = filepath.Dir(d) {
			if fi, err := os.Stat(filepath.Join(d, "shared", "data")); err == nil && fi.IsDir() {
				dir = filepath.Join(d, "shared", "data")
				break
			}
		}
	}
	return filepath.Join(dir, name)
}

// TestPixelCorpusFresh keeps the corpus honest: its brand domains are
// fictional (.test / .example, or a vendor's own host), and no rule in the
// embedded lists names one of them.
func TestPixelCorpusFresh(t *testing.T) {
	brand := regexp.MustCompile(`[a-z0-9-]+\.(test|example)\b`)
	names := map[string]bool{}
	for _, file := range []string{"pixels.jsonl", "ordinary.jsonl"} {
		for _, c := range loadPixelCases(t, file) {
			for _, b := range brand.FindAllString(c.URL, -1) {
				names[b] = true
			}
		}
	}
	if len(names) < 20 {
		t.Fatalf("only %d fictional brand domains in the corpus", len(names))
	}
	for _, line := range strings.Split(defaultList+"\n"+paramsList, "\n") {
		if strings.HasPrefix(line, "!") {
			continue
		}
		for b := range names {
			label := b[:strings.IndexByte(b, '.')]
			if strings.Contains(line, b) || len(label) >= 6 && strings.Contains(line, label+".") {
				t.Errorf("rule %q names corpus brand %s", line, b)
			}
		}
	}
}

// BenchmarkMatchCorpusWithDefaults matches the crawl against what a running
// proxy holds: the embedded lists plus EasyList and EasyPrivacy. It is the
// check that a longer embedded list keeps per-request matching cost level.
func BenchmarkMatchCorpusWithDefaults(b *testing.B) {
	m := Compile(append(Defaults(), easyLists(b)...)...)
	reqs := loadCorpus(b)
	rs := make([]*Request, 0, len(reqs))
	for _, c := range reqs {
		if r, err := NewRequest(c.URL, c.FrameURL, corpusType(c.CPT)); err == nil {
			rs = append(rs, r)
			m.Match(r) // warm up: lazily compiled regexes belong to start-up
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Match(rs[i%len(rs)])
		i++
	}
}
