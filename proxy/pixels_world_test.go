package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// The pixel corpus (blocklist/testdata/pixels) sent through the running
// proxy: real goproxy, interception with the test CA, the real resolver
// core, the embedded lists, and an origin that answers as trackers and
// ordinary sites do. TestPixelCorpusThroughProxy asserts issue 11's targets
// on it and logs the table README.md's "Pixel coverage" section quotes.

// corpusCase is one line of pixels.jsonl or ordinary.jsonl (their README
// describes the fields).
type corpusCase struct {
	Category string `json:"category"`
	Vendor   string `json:"vendor"`
	What     string `json:"what"`
	Client   string `json:"client"`
	Dest     string `json:"dest"`
	Accept   string `json:"accept"`
	UA       string `json:"ua"`
	Source   string `json:"source"`
	URL      string `json:"url"`
	line     int
}

func loadPixelCorpus(t *testing.T, name string) []corpusCase {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "blocklist", "testdata", "pixels", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		c := corpusCase{line: n}
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s:%d: %v", name, n, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 300 {
		t.Fatalf("%s: only %d cases", name, len(cases))
	}
	return cases
}

// browserUA is the User-Agent of a browser (and of a webmail reader in
// one) when the corpus names none.
const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

// header is what the case's client sends: Sec-Fetch-Dest when it sends
// one, Accept, User-Agent, and the source page as Referer.
func (c corpusCase) header() http.Header {
	h := http.Header{}
	if c.Dest != "" {
		h.Set("Sec-Fetch-Dest", c.Dest)
	}
	if c.Accept != "" {
		h.Set("Accept", c.Accept)
	}
	ua := c.UA
	if ua == "" && (c.Client == "browser" || c.Client == "webmail") {
		ua = browserUA
	}
	h.Set("User-Agent", ua) // empty: none at all, not Go's
	if c.Source != "" {
		h.Set("Referer", c.Source)
	}
	return h
}

// beacon reports whether the case is a sendBeacon/fetch hit of a tracker,
// sent as POST with a small body, as navigator.sendBeacon does.
func (c corpusCase) beacon() bool { return c.Category != "" && c.Dest == "empty" }

// answer is what the corpus origin sends for one case.
type answer struct {
	status int
	ctype  string
	body   []byte
}

// pixelAnswer is the tracker's answer to a pixel: a 1×1 GIF for an image
// (or a mail app's load), a small script for a script, a small page for an
// iframe tag, 204 for a beacon.
func pixelAnswer(c corpusCase) answer {
	switch c.Dest {
	case "script":
		return answer{200, "application/javascript", []byte("/* " + c.Vendor + " tag */(function(w){w._tq=w._tq||[];w._tq.push(['init',Date.now()]);var i=new Image();i.src='/t?e=pv';})(window);\n")}
	case "iframe":
		return answer{200, "text/html", []byte("<!doctype html><html><body><img src=\"/pixel?e=conv\" width=1 height=1 alt=\"\"></body></html>\n")}
	case "empty":
		return answer{status: http.StatusNoContent}
	}
	return answer{200, "image/gif", originGIF}
}

// ordinaryAnswer is what an ordinary site sends: pages, scripts, styles,
// fonts, audio, API answers, and images of normal size (spacers excepted:
// a spacer is 1×1 whoever serves it).
func ordinaryAnswer(c corpusCase) answer {
	p := strings.ToLower(urlPath(c.URL))
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	base := p[strings.LastIndexByte(p, '/')+1:]
	ext := ""
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		ext = base[i:]
	}
	switch c.Dest {
	case "document", "iframe":
		return answer{200, "text/html; charset=utf-8", filler("<!doctype html><html><head><title>"+c.What+"</title></head><body>", 3000, "</body></html>\n")}
	case "script":
		return answer{200, "application/javascript", filler("/*! library */(function(){", 6000, "})();\n")}
	case "style":
		return answer{200, "text/css", filler("/*! styles */body{margin:0}", 5000, "\n")}
	case "font":
		return answer{200, "font/woff2", filler("wOF2", 9000, "")}
	case "audio":
		return answer{200, "audio/mpeg", filler("ID3", 20000, "")}
	case "empty":
		switch ext {
		case ".pbf":
			return answer{200, "application/x-protobuf", filler("\x1a", 7000, "")}
		case ".ics":
			return answer{200, "text/calendar", filler("BEGIN:VCALENDAR\r\n", 2000, "END:VCALENDAR\r\n")}
		}
		return answer{200, "application/json", filler(`{"items":[`, 1500, "]}")}
	}
	// An image: by the client's Sec-Fetch-Dest, or a mail app's remote content.
	name := strings.TrimSuffix(base, ext)
	if slices.Contains([]string{"spacer", "1x1", "pixel", "blank", "transparent", "clear"}, name) {
		if ext == ".png" {
			return answer{200, "image/png", pngImage(1, 1)}
		}
		return answer{200, "image/gif", gifImage(1, 1)}
	}
	w, h := 640, 360
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		if a, b, ok := strings.Cut(name[i+1:], "x"); ok { // sprite-32x32
			if x, err := strconv.Atoi(a); err == nil {
				if y, err := strconv.Atoi(b); err == nil {
					w, h = x, y
				}
			}
		}
	}
	switch ext {
	case ".png":
		return answer{200, "image/png", pngImage(w, h)}
	case ".gif":
		return answer{200, "image/gif", gifImage(w, h)}
	case ".webp":
		return answer{200, "image/webp", webpImage(w, h)}
	case ".svg":
		return answer{200, "image/svg+xml", filler(`<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24"><path d="`, 600, `"/></svg>`)}
	}
	return answer{200, "image/jpeg", jpegImage(w, h)}
}

// filler makes a body of about n bytes between head and tail.
func filler(head string, n int, tail string) []byte {
	b := []byte(head)
	for len(b) < n-len(tail) {
		b = append(b, "lorem ipsum dolor sit amet "...)
	}
	return append(b, tail...)
}

// The image makers write real headers (all the heuristic reads) and pad
// the body to the size of a small real image.
func pngImage(w, h int) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
	b = binary.BigEndian.AppendUint32(b, uint32(w))
	b = binary.BigEndian.AppendUint32(b, uint32(h))
	b = append(b, 8, 6, 0, 0, 0, 0, 0, 0, 0)
	return padImage(b, w, h)
}

func gifImage(w, h int) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, uint16(w))
	b = binary.LittleEndian.AppendUint16(b, uint16(h))
	b = append(b, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff)
	return padImage(b, w, h)
}

func jpegImage(w, h int) []byte {
	b := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xc0\x00\x11\x08")
	b = binary.BigEndian.AppendUint16(b, uint16(h))
	b = binary.BigEndian.AppendUint16(b, uint16(w))
	b = append(b, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	return padImage(b, w, h)
}

func webpImage(w, h int) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00")
	b = append(b, byte(w-1), byte((w-1)>>8), byte((w-1)>>16), byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	return padImage(b, w, h)
}

// padImage pads an image header: a 1×1 stays tiny, others grow with their
// area, up to a few kilobytes (the heuristic reads up to 4 KiB).
func padImage(b []byte, w, h int) []byte {
	n := min(600+w*h/40, 3500)
	if w*h <= 4 {
		n = 43
	}
	for len(b) < n {
		b = append(b, 0)
	}
	return b
}

// corpusOrigin answers every host: each request carries the case it is
// for in caseHeader, and gets that case's answer. It counts what it sees
// by case.
type corpusOrigin struct {
	mu      sync.Mutex
	answers map[string]answer
	seen    map[string]int
	unknown []string
}

const caseHeader = "X-Corpus-Case"

func newCorpusOrigin() *corpusOrigin {
	return &corpusOrigin{answers: map[string]answer{}, seen: map[string]int{}}
}

func (o *corpusOrigin) set(id string, a answer) {
	o.mu.Lock()
	o.answers[id] = a
	o.mu.Unlock()
}

func (o *corpusOrigin) count(id string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[id]
}

func (o *corpusOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(caseHeader)
	io.Copy(io.Discard, r.Body)
	o.mu.Lock()
	a, ok := o.answers[id]
	if ok {
		o.seen[id]++
	} else {
		o.unknown = append(o.unknown, r.Host+r.URL.String())
	}
	o.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if a.ctype != "" {
		w.Header().Set("Content-Type", a.ctype)
	}
	w.WriteHeader(a.status)
	w.Write(a.body)
}

// outcome is what became of one request.
type outcome int

const (
	passed        outcome = iota // the origin's answer reached the client
	beforeContact                // pixelwall answered; the origin never saw the request
	replaced                     // the origin answered; the client got pixelwall's answer instead
)

// corpusRun sends cases through one world.
type corpusRun struct {
	t      *testing.T
	w      *world
	origin *corpusOrigin
	client *http.Client
}

func newCorpusRun(t *testing.T, lists blocklist.Config, learner Learner) *corpusRun {
	t.Helper()
	o := newCorpusOrigin()
	w := newWorld(t, worldOptions{lists: &lists, handler: o, defaultPorts: true,
		tweak: func(opts *Options) {
			if learner != nil {
				opts.Learner = learner
			}
		}})
	roots := x509.NewCertPool()
	roots.AddCert(w.ca.Cert)
	tr := &http.Transport{
		Proxy:               http.ProxyURL(w.proxyURL),
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		MaxIdleConnsPerHost: 2,
		DisableCompression:  true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	// Redirects are followed, as browsers and mail apps do: the proxy
	// redirects navigations to their clean or unwrapped targets.
	return &corpusRun{t: t, w: w, origin: o, client: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

// send makes case c's request for rawURL, marked as id, and says what
// became of it. A pixel is expected to be answered by the origin or by
// pixelwall; anything else (an error, a refusal) is reported as an error.
func (r *corpusRun) send(c corpusCase, id, rawURL string, a answer) outcome {
	r.origin.set(id, a)
	method, body := http.MethodGet, io.Reader(nil)
	if c.beacon() {
		method, body = http.MethodPost, strings.NewReader(`{"e":"page_view","t":`+strconv.FormatInt(time.Now().UnixMilli(), 10)+`}`)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, rawURL, body)
	if err != nil {
		r.t.Errorf("line %d: %v", c.line, err)
		return passed
	}
	req.Header = c.header()
	req.Header.Set(caseHeader, id)
	if c.beacon() {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		// A host blocked by name is refused at CONNECT: the client sees a
		// failed tunnel, and the tracker is never contacted.
		if r.origin.count(id) == 0 && r.connectRefused(req.URL.Hostname()) {
			return beforeContact
		}
		r.t.Errorf("line %d: %s %s: %v", c.line, method, rawURL, err)
		return passed
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		r.t.Errorf("line %d: %s %s: read body: %v", c.line, method, rawURL, err)
		return passed
	}
	ours := resp.Header.Get("X-Pixelwall") != ""
	switch seen := r.origin.count(id); {
	case seen == 0 && ours:
		return beforeContact
	case seen > 0 && resp.StatusCode == a.status && bytes.Equal(got, a.body):
		return passed
	case seen > 0 && ours:
		return replaced
	default:
		r.t.Errorf("line %d: %s %s: the origin saw it %d times; the client got %d %q (%d bytes), neither the origin's answer nor pixelwall's",
			c.line, method, rawURL, seen, resp.StatusCode, resp.Header.Get("Content-Type"), len(got))
		return passed
	}
}

// connectRefused reports whether the proxy refused a CONNECT to host
// because a list blocks it.
func (r *corpusRun) connectRefused(host string) bool {
	for _, e := range r.w.eventsOf(KindConnectRefused) {
		if strings.EqualFold(e.Host, host) && e.Rule != "" {
			return true
		}
	}
	return false
}

// parallel runs f(0) … f(n-1) on a few goroutines.
func parallel(n int, f func(i int)) {
	const workers = 8
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// tally counts outcomes per category.
type tally struct{ before, replaced, all int }

func (t tally) cell(n int) string {
	if t.all == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d (%.1f%%)", n, t.all, 100*float64(n)/float64(t.all))
}

func (t tally) beforeRate() float64 { return float64(t.before) / float64(t.all) }
func (t tally) inAllRate() float64  { return float64(t.before+t.replaced) / float64(t.all) }

var corpusCategories = []string{"email-open", "analytics", "conversion", "retargeting", "social", "tag-script"}

// firstSight is one run of both corpora through a fresh world.
type firstSight struct {
	pixels  map[string]tally // by category, "pixels" (all but tag scripts) and "all"
	misses  []string         // pixels not stopped before contact
	broken  []string         // ordinary requests not answered by the origin
	spacers int              // same-site spacers swapped for our GIF (harmless)
}

func runFirstSight(t *testing.T, lists blocklist.Config, pixels, ordinary []corpusCase) firstSight {
	r := newCorpusRun(t, lists, nil)
	out := firstSight{pixels: map[string]tally{}}
	po := make([]outcome, len(pixels))
	parallel(len(pixels), func(i int) {
		po[i] = r.send(pixels[i], "p"+strconv.Itoa(i), pixels[i].URL, pixelAnswer(pixels[i]))
	})
	oo := make([]outcome, len(ordinary))
	oa := make([]answer, len(ordinary))
	parallel(len(ordinary), func(i int) {
		oa[i] = ordinaryAnswer(ordinary[i])
		oo[i] = r.send(ordinary[i], "o"+strconv.Itoa(i), ordinary[i].URL, oa[i])
	})
	for i, c := range pixels {
		keys := []string{c.Category, "all"}
		if c.Category != "tag-script" {
			keys = append(keys, "pixels")
		}
		for _, k := range keys {
			tl := out.pixels[k]
			tl.all++
			switch po[i] {
			case beforeContact:
				tl.before++
			case replaced:
				tl.replaced++
			}
			out.pixels[k] = tl
		}
		if po[i] != beforeContact {
			how := "passed"
			if po[i] == replaced {
				how = "replaced after contact"
			}
			out.misses = append(out.misses, fmt.Sprintf("%s %s (%s, %s): %s", c.Category, c.Vendor, RequestType(c.header(), urlPath(c.URL)), how, c.URL))
		}
	}
	for i, c := range ordinary {
		switch {
		case oo[i] == passed:
		case oo[i] == replaced && isSpacer(oa[i]):
			out.spacers++
		default:
			out.broken = append(out.broken, fmt.Sprintf("ordinary.jsonl:%d %s (outcome %d): %s", c.line, c.What, oo[i], c.URL))
		}
	}
	return out
}

// isSpacer: the origin's answer is an image of at most 2×2 pixels, which
// our transparent GIF replaces without a visible change.
func isSpacer(a answer) bool {
	w, h, ok := imageSize(a.body)
	return ok && w <= 2 && h <= 2
}

// isImagePixel reports whether the proxy types the case's request as an
// image: the pixels a sender repeats in every message, and what the
// heuristic, and so learning, covers.
func isImagePixel(c corpusCase) bool {
	return c.Category != "tag-script" && RequestType(c.header(), urlPath(c.URL)) == blocklist.TypeImage
}

// fourthMessage sends each image pixel four times with fresh identifiers,
// learning on: three earlier messages (all senders' first, then second,
// then third), then the fourth, measured.
func fourthMessage(t *testing.T, lists blocklist.Config, pixels []corpusCase) (email, other tally, misses []string) {
	var lists2 *blocklist.Service // learned rules are published with the lists
	learner, err := blocklist.NewLearner(blocklist.LearnerOptions{OnChange: func(m *blocklist.Matcher) { lists2.SetLearned(m) }})
	if err != nil {
		t.Fatal(err)
	}
	r := newCorpusRun(t, lists, learner)
	lists2 = r.w.lists
	var cases []corpusCase
	for _, c := range pixels {
		if isImagePixel(c) {
			cases = append(cases, c)
		}
	}
	rnd := rand.New(rand.NewPCG(11, 4))
	urls := make([][4]string, len(cases))
	for i, c := range cases {
		for m := range 4 {
			urls[i][m] = freshIdentifiers(c.URL, rnd)
		}
	}
	res := make([]outcome, len(cases))
	for m := range 4 {
		parallel(len(cases), func(i int) {
			res[i] = r.send(cases[i], fmt.Sprintf("m%d-%d", m, i), urls[i][m], pixelAnswer(cases[i]))
		})
	}
	for i, c := range cases {
		tl := &other
		if c.Category == "email-open" {
			tl = &email
		}
		tl.all++
		switch res[i] {
		case beforeContact:
			tl.before++
		case replaced:
			tl.replaced++
		}
		if res[i] != beforeContact {
			misses = append(misses, fmt.Sprintf("%s %s: %s", c.Category, c.Vendor, urls[i][3]))
		}
	}
	return email, other, misses
}

// TestPixelCorpusThroughProxy sends our pixel and ordinary corpora through
// the running proxy, first with the embedded lists alone, then with
// EasyPrivacy added, then (embedded alone, learning on) the fourth message
// from every image pixel's sender, and asserts issue 11's targets.
func TestPixelCorpusThroughProxy(t *testing.T) {
	pixels := loadPixelCorpus(t, "pixels.jsonl")
	ordinary := loadPixelCorpus(t, "ordinary.jsonl")
	for _, c := range pixels {
		if !slices.Contains(corpusCategories, c.Category) {
			t.Fatalf("pixels.jsonl:%d: unknown category %q", c.line, c.Category)
		}
	}

	alone := runFirstSight(t, blocklist.Config{}, pixels, ordinary)
	var withEP *firstSight
	epText, epErr := os.ReadFile(sharedDataFile("easyprivacy.txt"))
	if epErr == nil {
		fs := runFirstSight(t, blocklist.Config{Sources: []blocklist.Source{{Name: "easyprivacy", Format: blocklist.FormatAdblock, Text: string(epText)}}}, pixels, ordinary)
		withEP = &fs
	}
	email, other, fourthMisses := fourthMessage(t, blocklist.Config{}, pixels)
	// Without lists: what the heuristic and learning do alone, for pixels
	// no list knows (the held-out set's long tail).
	noLists := blocklist.Config{NoDefaults: true}
	bare := runFirstSight(t, noLists, pixels, ordinary)
	bareEmail, bareOther, bareMisses := fourthMessage(t, noLists, pixels)
	for _, m := range bareMisses {
		t.Logf("no lists: fourth message not stopped before contact: %s", m)
	}

	var tbl strings.Builder
	fmt.Fprintf(&tbl, "%d pixels, %d ordinary requests\n\n", len(pixels), len(ordinary))
	tbl.WriteString("| Category | Embedded alone: before contact | Embedded alone: in all | With EasyPrivacy: before contact | With EasyPrivacy: in all |\n|---|---|---|---|---|\n")
	for _, k := range append(slices.Clone(corpusCategories), "pixels", "all") {
		name := k
		switch k {
		case "pixels":
			name = "**all but tag scripts**"
		case "all":
			name = "**all**"
		}
		a := alone.pixels[k]
		ep1, ep2 := "(EasyPrivacy absent)", "(EasyPrivacy absent)"
		if withEP != nil {
			e := withEP.pixels[k]
			ep1, ep2 = e.cell(e.before), e.cell(e.before+e.replaced)
		}
		fmt.Fprintf(&tbl, "| %s | %s | %s | %s | %s |\n", name, a.cell(a.before), a.cell(a.before+a.replaced), ep1, ep2)
	}
	epBroken := "(EasyPrivacy absent)"
	if withEP != nil {
		epBroken = fmt.Sprintf("%d/%d (spacers swapped: %d)", len(withEP.broken), len(ordinary), withEP.spacers)
	}
	fmt.Fprintf(&tbl, "| ordinary requests broken | %d/%d (spacers swapped: %d) | | %s | |\n", len(alone.broken), len(ordinary), alone.spacers, epBroken)
	fmt.Fprintf(&tbl, "\nFourth message from the same sender (embedded alone, learning on; fresh identifiers in all four):\n\n")
	tbl.WriteString("| Image pixels | Before contact | In all |\n|---|---|---|\n")
	fmt.Fprintf(&tbl, "| email-open | %s | %s |\n", email.cell(email.before), email.cell(email.before+email.replaced))
	fmt.Fprintf(&tbl, "| other image pixels | %s | %s |\n", other.cell(other.before), other.cell(other.before+other.replaced))
	fmt.Fprintf(&tbl, "\nNo lists at all: the response heuristic and learning alone:\n\n")
	tbl.WriteString("| Pixels | First sight: in all (heuristic) | Fourth message: before contact (learned) |\n|---|---|---|\n")
	for _, k := range corpusCategories {
		b := bare.pixels[k]
		fmt.Fprintf(&tbl, "| %s | %s | |\n", k, b.cell(b.before+b.replaced))
	}
	fmt.Fprintf(&tbl, "| email-open (image pixels) | | %s |\n", bareEmail.cell(bareEmail.before))
	fmt.Fprintf(&tbl, "| other image pixels | | %s |\n", bareOther.cell(bareOther.before))
	fmt.Fprintf(&tbl, "| ordinary requests broken | %d/%d (spacers swapped: %d) | |\n", len(bare.broken), len(ordinary), bare.spacers)
	t.Logf("pixel coverage through the running proxy:\n%s", tbl.String())
	for _, m := range alone.misses {
		t.Logf("embedded alone, not stopped before contact: %s", m)
	}
	for _, m := range fourthMisses {
		t.Logf("fourth message not stopped before contact: %s", m)
	}

	if len(alone.broken) > 0 {
		t.Errorf("embedded lists break %d ordinary requests, want 0:\n%s", len(alone.broken), strings.Join(alone.broken, "\n"))
	}
	if a := alone.pixels["all"]; a.beforeRate() < 0.92 {
		t.Errorf("embedded lists alone stop %s of pixels before contact, want ≥ 92%%", a.cell(a.before))
	}
	if a := alone.pixels["all"]; a.inAllRate() < 0.99 {
		t.Errorf("embedded lists alone stop %s of pixels in all, want ≥ 99%%", a.cell(a.before+a.replaced))
	}
	if email.beforeRate() < 0.98 {
		t.Errorf("the fourth email open is stopped before contact for %s, want ≥ 98%%", email.cell(email.before))
	}
	if len(bare.broken) > 0 {
		t.Errorf("the heuristic alone breaks %d ordinary requests, want 0:\n%s", len(bare.broken), strings.Join(bare.broken, "\n"))
	}
	if e := bare.pixels["email-open"]; e.inAllRate() < 0.99 {
		t.Errorf("without lists the heuristic catches %s of email opens, want ≥ 99%%", e.cell(e.before+e.replaced))
	}
	if withEP == nil {
		t.Skipf("EasyPrivacy half skipped: %v (set PIXELWALL_DATA to the directory holding easyprivacy.txt)", epErr)
	}
	for _, m := range withEP.misses {
		t.Logf("with EasyPrivacy, not stopped before contact: %s", m)
	}
	for _, b := range withEP.broken {
		t.Logf("with EasyPrivacy, broken: %s", b)
	}
	if e := withEP.pixels["all"]; e.beforeRate() < 0.96 {
		t.Errorf("with EasyPrivacy %s of pixels are stopped before contact, want ≥ 96%%", e.cell(e.before))
	}
}

// sharedDataFile is name in the shared test data (PIXELWALL_DATA, else a
// shared/data directory above the working directory).
func sharedDataFile(name string) string {
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

// freshIdentifiers returns rawURL with every identifier-looking path
// segment, path parameter and query value replaced by a new random one of
// the same shape (each digit by a digit, each letter by a letter of the
// same case, hex staying hex; punctuation and percent-escapes kept). The
// scheme, host, names and ordinary values are kept byte for byte, in order.
func freshIdentifiers(rawURL string, rnd *rand.Rand) string {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return rawURL
	}
	j := strings.IndexAny(rawURL[i+3:], "/?#")
	if j < 0 {
		return rawURL
	}
	head, rest := rawURL[:i+3+j], rawURL[i+3+j:]
	frag := ""
	if k := strings.IndexByte(rest, '#'); k >= 0 {
		rest, frag = rest[:k], rest[k:]
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	segs := strings.Split(path, "/")
	for n, seg := range segs {
		parts := strings.Split(seg, ";") // DoubleClick's ;src=…;ord=… segments
		for m, p := range parts {
			if name, v, ok := strings.Cut(p, "="); ok && m > 0 {
				parts[m] = name + "=" + freshValue(v, rnd, false)
			} else {
				parts[m] = freshValue(p, rnd, true)
			}
		}
		segs[n] = strings.Join(parts, ";")
	}
	out := head + strings.Join(segs, "/")
	if hasQuery {
		pairs := strings.Split(query, "&")
		for n, p := range pairs {
			if name, v, ok := strings.Cut(p, "="); ok {
				pairs[n] = name + "=" + freshValue(v, rnd, false)
			}
		}
		out += "?" + strings.Join(pairs, "&")
	}
	return out + frag
}

// freshValue replaces s by a random value of its shape if it looks like
// an identifier; a path segment keeps its extension.
func freshValue(s string, rnd *rand.Rand, segment bool) string {
	core, ext := s, ""
	if segment {
		if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i <= 5 {
			core, ext = s[:i], s[i:]
		}
	}
	if !identifierLike(core) {
		return s
	}
	hex, upperHex := true, true // letters only a-f (A-F); separators and escapes aside
	for k := 0; k < len(core); k++ {
		switch c := core[k]; {
		case c == '%':
			k += 2
		case c >= 'a' && c <= 'z':
			hex, upperHex = hex && c <= 'f', false
		case c >= 'A' && c <= 'Z':
			hex, upperHex = false, upperHex && c <= 'F'
		}
	}
	for range 100 {
		b := []byte(core)
		for k := 0; k < len(b); k++ {
			switch c := b[k]; {
			case c == '%' && k+2 < len(b):
				k += 2 // an escape stays as it is
			case c >= '0' && c <= '9':
				b[k] = '0' + byte(rnd.IntN(10))
			case hex && c >= 'a' && c <= 'f':
				b[k] = 'a' + byte(rnd.IntN(6))
			case upperHex && c >= 'A' && c <= 'F':
				b[k] = 'A' + byte(rnd.IntN(6))
			case c >= 'a' && c <= 'z':
				b[k] = 'a' + byte(rnd.IntN(26))
			case c >= 'A' && c <= 'Z':
				b[k] = 'A' + byte(rnd.IntN(26))
			}
		}
		if string(b) != core {
			return string(b) + ext
		}
	}
	return s
}

// identifierLike: an e-mail address, or a token of at least 6 characters
// with a digit (ids, hashes, timestamps), or a long mixed-case token
// (base64) — but not a version or amount ("1.222.0", "12.00").
func identifierLike(s string) bool {
	if strings.Contains(s, "@") || strings.Contains(strings.ToLower(s), "%40") {
		return true
	}
	if len(s) < 6 {
		return false
	}
	var digits, lower, upper, dots int
	for k := 0; k < len(s); k++ {
		switch c := s[k]; {
		case c == '%' && k+2 < len(s):
			k += 2 // an escape is punctuation
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z':
			lower++
		case c >= 'A' && c <= 'Z':
			upper++
		case c == '.':
			dots++
		case c == '-' || c == '_' || c == '=' || c == '+' || c == '~':
		default:
			return false
		}
	}
	if dots > 0 && lower+upper == 0 {
		return false
	}
	return digits > 0 || lower > 0 && upper > 0 && len(s) >= 16
}

// shape maps each byte of s to its class, as freshIdentifiers keeps them.
func shape(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			b[i] = '9'
		case c >= 'a' && c <= 'z':
			b[i] = 'a'
		case c >= 'A' && c <= 'Z':
			b[i] = 'A'
		}
	}
	return string(b)
}

func TestFreshIdentifiers(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		url  string
		keep []string // substrings that must stay as they are
		gone []string // identifiers that must be replaced
	}{
		{"https://rivetworks.us15.list-manage.com/track/open.php?u=e65f53e9421ce50211670eae6&id=79f02e8d28&e=a79023c39c",
			[]string{"https://rivetworks.us15.list-manage.com/track/open.php?u=", "&id=", "&e="},
			[]string{"e65f53e9421ce50211670eae6", "79f02e8d28", "a79023c39c"}},
		{"https://links.brand.test/o/eyJhbGciOiJIUzI1NiJ9Qx.gif?v=2&ev=Purchase&ver=1.222.0&amount=12.00",
			[]string{"https://links.brand.test/o/", ".gif?v=2&ev=Purchase&ver=1.222.0&amount=12.00"},
			[]string{"eyJhbGciOiJIUzI1NiJ9Qx"}},
		{"https://8187628.fls.doubleclick.net/activityi;src=8677229;type=tqrxslv;ord=8183893782?",
			[]string{"https://8187628.fls.doubleclick.net/activityi;src=", ";type=tqrxslv;ord=", "?"},
			[]string{"8677229", "8183893782"}},
		{"https://t.news.brand.test/open?rcpt=jane.doe%40example.test&uid=8c3cbab4-b304-411c-bea9-92bc97f454de#top",
			[]string{"https://t.news.brand.test/open?rcpt=", "%40", "&uid=", "#top"},
			[]string{"jane.doe", "example.test&", "8c3cbab4-b304-411c-bea9-92bc97f454de"}},
		{"https://www.facebook.com/tr?id=357268787556619&ev=PageView&noscript=1",
			[]string{"https://www.facebook.com/tr?id=", "&ev=PageView&noscript=1"},
			[]string{"357268787556619"}},
	} {
		got := freshIdentifiers(tc.url, rnd)
		if shape(got) != shape(tc.url) {
			t.Errorf("freshIdentifiers(%q) = %q: shape changed", tc.url, got)
		}
		for _, k := range tc.keep {
			if !strings.Contains(got, k) {
				t.Errorf("freshIdentifiers(%q) = %q: lost %q", tc.url, got, k)
			}
		}
		for _, g := range tc.gone {
			if strings.Contains(got, g) {
				t.Errorf("freshIdentifiers(%q) = %q: kept identifier %q", tc.url, got, g)
			}
		}
		if again := freshIdentifiers(tc.url, rnd); again == got {
			t.Errorf("freshIdentifiers(%q) gave %q twice", tc.url, got)
		}
	}
	// Hex stays hex.
	for range 20 {
		got := freshIdentifiers("https://e.test/o/0123456789abcdef0123", rnd)
		if id := strings.TrimPrefix(got, "https://e.test/o/"); strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("hex identifier became %q", id)
		}
	}
	// Nothing identifier-like: unchanged.
	for _, u := range []string{"https://cdn.example.test/ajax/libs/jquery/3.7.1/jquery.min.js", "https://a.quora.com/qevents.js", "https://e.test"} {
		if got := freshIdentifiers(u, rnd); got != u {
			t.Errorf("freshIdentifiers(%q) = %q, want it unchanged", u, got)
		}
	}
}
