package blocklist

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

type adblockRustCase struct {
	Filters   []string `json:"filters"`
	SourceURL string   `json:"sourceUrl"`
	Type      string   `json:"type"`
	URL       string   `json:"url"`
}

// TestAdblockRustMatches runs adblock-rust's expected matches: for every
// (request, filter) pair, an engine with only that filter blocks the
// request; for an @@ filter, an engine with it and its blocking twin allows
// the request and names the exception. The pass rate must stay ≥ 99.5%.
func TestAdblockRustMatches(t *testing.T) {
	b, err := os.ReadFile(sharedData(t, "requests/adblock-rust-matching-test-requests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []adblockRustCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	var checked, failed int
	for _, c := range cases {
		if c.URL == "http://" || c.URL == "https://" {
			continue // no host to match; adblock-rust skips these too
		}
		typ, ok := ParseType(c.Type)
		if !ok {
			t.Fatalf("unknown type %q", c.Type)
		}
		req, err := NewRequest(c.URL, c.SourceURL, typ)
		if err != nil {
			t.Errorf("NewRequest(%q): %v", c.URL, err)
			continue
		}
		for _, f := range c.Filters {
			checked++
			if msg := checkPair(req, f); msg != "" {
				failed++
				if failed <= 40 {
					t.Logf("%s\n\tfilter %q\n\turl %q source %q type %s", msg, f, c.URL, c.SourceURL, c.Type)
				}
			}
		}
	}
	rate := 100 * float64(checked-failed) / float64(checked)
	t.Logf("adblock-rust matches: %d/%d pairs pass (%.2f%%)", checked-failed, checked, rate)
	if checked != 9354 {
		t.Errorf("checked %d pairs, want 9354 (adblock-rust's count)", checked)
	}
	if rate < 99.5 {
		t.Errorf("pass rate %.2f%%, want ≥ 99.5%%", rate)
	}
}

func checkPair(req *Request, f string) string {
	srcs := []Source{{Name: "test", Format: FormatAdblock, Text: f}}
	if twin, ok := strings.CutPrefix(f, "@@"); ok {
		srcs[0].Text = f + "\n" + twin
		d := Compile(srcs...).Match(req)
		if d.Action != Allow || d.Rule != f {
			return "exception: got " + d.Action.String() + " by " + d.Rule
		}
		return ""
	}
	m := Compile(srcs...)
	if st := m.Lists()[0]; st.BadCount > 0 {
		return "bad line: " + st.Bad[0].String()
	}
	d := m.Match(req)
	if d.Action != Block || d.Rule != f {
		return "block: got " + d.Action.String() + " by " + d.Rule
	}
	if r, _ := ParseRule(f); r.Redirect != "" {
		if want, _ := redirectResponse(r.Redirect); d.Response != want {
			return "redirect: got response " + d.Response.String()
		}
	}
	return ""
}
