package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy"
)

// checkResult is one line of `pixelwall check` output: every key is always
// present ("" and [] when they do not apply).
type checkResult struct {
	URL      string   `json:"url"`
	Decision string   `json:"decision"`
	Rule     string   `json:"rule"`
	List     string   `json:"list"`
	Response string   `json:"response"`
	CleanURL string   `json:"clean_url"`
	Removed  []string `json:"removed"`
}

// checkError is the output line for a request that could not be checked.
type checkError struct {
	URL   string `json:"url"`
	Error string `json:"error"`
}

// checkInput is one NDJSON request on stdin. The source and type go by
// several names so that request corpora can be piped in unchanged.
type checkInput struct {
	URL       string `json:"url"`
	Source    string `json:"source"`
	SourceURL string `json:"sourceUrl"`
	FrameURL  string `json:"frameUrl"`
	Type      string `json:"type"`
	CPT       string `json:"cpt"`
	// Headers, for a request without a type, are typed as the proxy
	// types them (Accept, Sec-Fetch-*, User-Agent, ...).
	Headers map[string]string `json:"headers"`
}

type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func cmdCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stdout)
	var common commonFlags
	common.register(fs)
	var lists stringsFlag
	fs.Var(&lists, "list", "also load this list `file` (repeatable; format detected)")
	noDefaults := fs.Bool("no-default-lists", false, "load neither the embedded lists nor the config's lists")
	source := fs.String("source", "", "page `URL` the requests are made from")
	typ := fs.String("type", "", "request `type` (image, script, xhr, …); default: as the proxy types it, from the URL's extension")
	urls, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(urls) == 0 {
		return usageError{fmt.Errorf("give URLs to check, or - to read NDJSON requests from stdin")}
	}
	var defType blocklist.Type
	if *typ != "" {
		t, ok := blocklist.ParseType(*typ)
		if !ok {
			return usageError{fmt.Errorf("unknown type %q", *typ)}
		}
		defType = t
	}

	cfg, err := loadConfigOrDefault(common.config)
	if err != nil {
		return err
	}
	pol, err := checkPolicy(cfg, dataDir(common.data, cfg), lists, *noDefaults, stderr)
	if err != nil {
		return err
	}

	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	var req blocklist.Request
	emit := func(in checkInput) error {
		return enc.Encode(decide(pol, &req, in, defType))
	}
	for _, arg := range urls {
		if arg != "-" {
			if err := emit(checkInput{URL: arg, Source: *source}); err != nil {
				return err
			}
			continue
		}
		if err := checkStdin(stdin, *source, enc, emit); err != nil {
			return err
		}
	}
	return nil
}

// checkPolicy is the policy check decides with: the config's lists (unless
// noDefaults) with the learned rules, and the -list files, which must be
// there. Other problems are warnings.
func checkPolicy(cfg *Config, data string, lists []string, noDefaults bool, stderr io.Writer) (*blocklist.Policy, error) {
	lc := listsConfig(cfg, lists, noDefaults)
	var err error
	if !noDefaults {
		if lc, err = withLearned(cfg, data, lc); err != nil {
			fmt.Fprintln(stderr, "warning:", err)
		}
	}
	svc, err := blocklist.NewService(lc, blocklist.ServiceOptions{Dir: data, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(stderr, "warning:", err)
	}
	for _, ls := range svc.Status() {
		switch {
		case ls.State == blocklist.ListMissing && slices.Contains(lists, ls.Source):
			return nil, fmt.Errorf("-list %s: %s", ls.Source, ls.Reason)
		case ls.Reason != "":
			fmt.Fprintf(stderr, "warning: list %s: %s: %s\n", ls.Name, ls.State, ls.Reason)
		}
		reportBadLines(stderr, ls.Stats)
	}
	return svc.Policy(), nil
}

// checkStdin checks each NDJSON request (or bare URL) on stdin; a line
// that is not JSON gets an error object and the run goes on.
func checkStdin(stdin io.Reader, source string, enc *json.Encoder, emit func(checkInput) error) error {
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		in := checkInput{Source: source}
		if b[0] == '{' {
			if err := json.Unmarshal(b, &in); err != nil {
				if err := enc.Encode(checkError{URL: in.URL, Error: fmt.Sprintf("stdin line %d: %v", line, err)}); err != nil {
					return err
				}
				continue
			}
		} else {
			in.URL = string(b) // a bare URL per line works too
		}
		if err := emit(in); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	return nil
}

// decide runs one request through the policy, as the proxy does for a
// client with no allows of its own; it returns a checkResult or a
// checkError.
func decide(pol *blocklist.Policy, req *blocklist.Request, in checkInput, defType blocklist.Type) any {
	res := checkResult{URL: in.URL}
	src := cmp.Or(in.Source, in.SourceURL, in.FrameURL)
	t, err := inputType(in, defType)
	if err != nil {
		return checkError{URL: in.URL, Error: err.Error()}
	}
	if t != 0 {
		err = req.Reset(in.URL, src, t)
	} else {
		// As the proxy would see it, so that check and proxy agree.
		h := make(http.Header, len(in.Headers)+1)
		for k, v := range in.Headers {
			h.Set(k, v)
		}
		if src != "" && h.Get("Referer") == "" {
			h.Set("Referer", src)
		}
		err = proxy.Classify(req, in.URL, h)
	}
	if err != nil {
		return checkError{URL: in.URL, Error: err.Error()}
	}
	d := pol.Decide(req, netip.Addr{})
	res.Decision, res.Rule, res.List = d.Action.String(), d.Rule, d.List
	if d.Action == blocklist.Block {
		res.Response = d.Response.String()
	}
	res.CleanURL, res.Removed = pol.Clean(req)
	if res.Removed == nil {
		res.Removed = []string{}
	}
	return res
}

// inputType resolves a request's type. "type" takes Adblock and browser
// names. "cpt" is the DevTools/Puppeteer vocabulary of request corpora, where
// "document" is mapped to a sub-frame as uBlock Origin's and AdGuard's test
// harnesses do. Without either, the type comes from -type, else it is 0:
// the proxy's typing from headers and URL decides.
func inputType(in checkInput, def blocklist.Type) (blocklist.Type, error) {
	name := in.Type
	if name == "" && in.CPT != "" {
		if in.CPT == "document" {
			return blocklist.TypeSubdocument, nil
		}
		name = in.CPT
	}
	if name == "" {
		return def, nil
	}
	t, ok := blocklist.ParseType(name)
	if !ok {
		return 0, fmt.Errorf("unknown request type %q", name)
	}
	return t, nil
}

// reportBadLines writes the unusable lines of a list, the first few of
// them.
func reportBadLines(w io.Writer, st blocklist.ListStats) {
	if st.BadCount == 0 {
		return
	}
	fmt.Fprintf(w, "list %s: %d bad lines (skipped; the rest loaded)\n", st.Name, st.BadCount)
	for i, b := range st.Bad {
		if i == 3 {
			break
		}
		fmt.Fprintf(w, "  %s: %s\n", st.Name, b)
	}
}
