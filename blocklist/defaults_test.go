package blocklist

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestDefaultListCases runs testdata/default-cases.txt against the embedded
// lists: every "block" case is blocked and every "pass" case is not.
func TestDefaultListCases(t *testing.T) {
	m := Compile(Defaults()...)
	for _, st := range m.Lists() {
		if st.BadCount > 0 {
			t.Errorf("embedded list %s has %d bad lines: %v", st.Name, st.BadCount, st.Bad)
		}
		if st.Rules() == 0 {
			t.Errorf("embedded list %s has no rules", st.Name)
		}
	}
	f, err := os.Open("testdata/default-cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var blocks, passes int
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 3 || len(fields) > 4 {
			t.Fatalf("default-cases.txt:%d: want 3 or 4 fields: %q", n, line)
		}
		typ, ok := ParseType(fields[1])
		if !ok {
			t.Fatalf("default-cases.txt:%d: unknown type %q", n, fields[1])
		}
		source := ""
		if len(fields) == 4 {
			source = fields[3]
		}
		req, err := NewRequest(fields[2], source, typ)
		if err != nil {
			t.Fatalf("default-cases.txt:%d: %v", n, err)
		}
		d := m.Match(req)
		switch fields[0] {
		case "block":
			blocks++
			if d.Action != Block || d.List != DefaultListName {
				t.Errorf("default-cases.txt:%d: Match(%s %s) = %v by %q, want block", n, fields[1], fields[2], d.Action, d.Rule)
			}
		case "pass":
			passes++
			if d.Action != Pass {
				t.Errorf("default-cases.txt:%d: Match(%s %s) = %v by %q, want pass", n, fields[1], fields[2], d.Action, d.Rule)
			}
		default:
			t.Fatalf("default-cases.txt:%d: want block or pass, got %q", n, fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if blocks < 50 || passes < 25 {
		t.Errorf("only %d block and %d pass cases; the file is incomplete", blocks, passes)
	}
}

// TestDefaultListCorpus checks the embedded list on the 30,524 real
// requests against EasyList + EasyPrivacy, the community's verdict: it must
// block nothing they explicitly allow (an @@ exception means blocking it
// breaks sites), and nearly all it blocks they block too. The rest are pixels
// they leave alone on purpose or by omission (pixel.quantserve.com is only
// blocked as a script there); each was reviewed by hand.
func TestDefaultListCorpus(t *testing.T) {
	ours := Compile(Defaults()[0])
	easy := Compile(easyLists(t)...)
	var req Request
	var blocked, disputed, allowed, standIns int
	for _, c := range loadCorpus(t) {
		if req.Reset(c.URL, c.FrameURL, corpusType(c.CPT)) != nil {
			continue
		}
		d := ours.Match(&req)
		if d.Action != Block {
			continue
		}
		blocked++
		switch e := easy.Match(&req); {
		case e.Action == Allow && isStandIn(d.Response):
			// EasyPrivacy excepts tag scripts on sites that break when
			// they are blocked with nothing; ours are answered with a
			// stand-in of the script's API, which is what those sites need.
			standIns++
		case e.Action == Allow:
			allowed++
			t.Errorf("blocked by %q but EasyList/EasyPrivacy allow it with %q: %s", d.Rule, e.Rule, c.URL)
		case e.Action == Pass:
			disputed++
		}
	}
	t.Logf("default list blocks %d corpus requests; %d not blocked by EasyList/EasyPrivacy; %d answered by a stand-in where they except the script",
		blocked, disputed, standIns)
	if blocked < 1000 {
		t.Errorf("default list blocks only %d corpus requests, want ≥ 1000", blocked)
	}
	if disputed*20 > blocked {
		t.Errorf("%d of %d blocks are not confirmed by EasyList/EasyPrivacy (> 5%%)", disputed, blocked)
	}
}

// TestDuckDuckGoParameterCases runs DuckDuckGo's privacy reference tests for
// tracking-parameter removal, with their reference parameter list and
// exception domain written as rules.
func TestDuckDuckGoParameterCases(t *testing.T) {
	var cfg struct {
		Features struct {
			TrackingParameters struct {
				Exceptions []struct{ Domain string } `json:"exceptions"`
				Settings   struct {
					Parameters []string `json:"parameters"`
				} `json:"settings"`
			} `json:"trackingParameters"`
		} `json:"features"`
	}
	readJSON(t, sharedData(t, "requests/ddg-url-parameters-config.json"), &cfg)
	var tests struct {
		TrackingParameters struct {
			Tests []struct {
				Name            string   `json:"name"`
				TestURL         string   `json:"testURL"`
				InitiatorURL    string   `json:"initiatorURL"`
				ExpectURL       string   `json:"expectURL"`
				ExceptPlatforms []string `json:"exceptPlatforms"`
			} `json:"tests"`
		} `json:"trackingParameters"`
	}
	readJSON(t, sharedData(t, "requests/ddg-url-parameters-tests.json"), &tests)

	var rules strings.Builder
	for _, p := range cfg.Features.TrackingParameters.Settings.Parameters {
		rules.WriteString("$removeparam=" + p + "\n")
	}
	for _, e := range cfg.Features.TrackingParameters.Exceptions {
		rules.WriteString("@@||" + e.Domain + "^$removeparam\n")      // the request's site
		rules.WriteString("@@$removeparam,domain=" + e.Domain + "\n") // the initiating page's site
	}
	m := Compile(Source{Name: "ddg", Format: FormatAdblock, Text: rules.String()})
	if st := m.Lists()[0]; st.BadCount > 0 {
		t.Fatalf("reference config as rules: %v", st.Bad)
	}
	if len(tests.TrackingParameters.Tests) != 20 {
		t.Fatalf("read %d cases, want 20", len(tests.TrackingParameters.Tests))
	}
	for _, tc := range tests.TrackingParameters.Tests {
		t.Run(tc.Name, func(t *testing.T) {
			req, err := NewRequest(tc.TestURL, tc.InitiatorURL, TypeDocument)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := m.Clean(req); got != tc.ExpectURL {
				t.Errorf("Clean(%q)\n got %q\nwant %q", tc.TestURL, got, tc.ExpectURL)
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// isStandIn reports whether r is a vendor's stand-in script (not the
// generic no-op, which gives a page nothing to call).
func isStandIn(r Response) bool {
	_, ok := r.Script()
	return ok && r != ResponseEmptyJS
}
