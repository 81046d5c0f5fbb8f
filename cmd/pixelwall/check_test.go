package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs the pixelwall command line in-process.
func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func decodeLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		out = append(out, v)
	}
	return out
}

func TestCheckURLs(t *testing.T) {
	code, out, errOut := runCmd(t, "", "check",
		"https://www.facebook.com/tr?id=123&ev=PageView",
		"https://example.com/article?utm_source=news&id=7&fbclid=abc")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := decodeLines(t, out)
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2: %s", len(got), out)
	}
	if got[0]["decision"] != "block" || got[0]["list"] != "pixelwall-default" || got[0]["rule"] == "" {
		t.Errorf("facebook pixel: %v, want block by the default list", got[0])
	}
	if got[1]["decision"] != "pass" || got[1]["clean_url"] != "https://example.com/article?id=7" {
		t.Errorf("tracking params: %v, want pass with clean_url https://example.com/article?id=7", got[1])
	}
	if removed, _ := got[1]["removed"].([]any); len(removed) != 2 || removed[0] != "utm_source" || removed[1] != "fbclid" {
		t.Errorf("removed = %v, want [utm_source fbclid]", got[1]["removed"])
	}
	for _, key := range []string{"url", "decision", "rule", "list", "response", "clean_url", "removed"} {
		if _, ok := got[1][key]; !ok {
			t.Errorf("output lacks key %q: %v", key, got[1])
		}
	}
}

func TestCheckNDJSON(t *testing.T) {
	list := writeFile(t, "mine.txt", "||tracker.test^\n@@||tracker.test/ok^\n||cdn.test/ads/*$image,third-party\nnot a [valid rule$bogus\n")
	stdin := strings.Join([]string{
		`{"url":"https://tracker.test/p.gif","type":"image"}`,
		`{"url":"https://tracker.test/ok/x.js","sourceUrl":"https://site.test/","type":"script"}`,
		`{"url":"https://cdn.test/ads/1.png","frameUrl":"https://site.test/","cpt":"image"}`,
		`{"url":"https://cdn.test/ads/1.png","source":"https://cdn.test/","type":"image"}`,
		`{"url":"no scheme here","type":"image"}`,
		`{"url":"https://tracker.test/x","type":"nonsense"}`,
		`{broken json`,
		`https://tracker.test/bare-line`,
		`{"url":"https://tracker.test/","cpt":"document"}`,
	}, "\n")
	code, out, errOut := runCmd(t, stdin, "check", "-no-default-lists", "-list", list, "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "mine.txt: 1 bad lines") || !strings.Contains(errOut, "line 4") {
		t.Errorf("stderr should report the bad line with its number: %q", errOut)
	}
	got := decodeLines(t, out)
	want := []struct{ decision, response, errPart string }{
		{"block", "1x1-gif", ""},
		{"allow", "", ""},
		{"block", "1x1-gif", ""},
		{"pass", "", ""}, // same site: $third-party does not apply
		{"", "", "not an absolute URL"},
		{"", "", "unknown request type"},
		{"", "", "stdin line 7"},
		{"block", "", ""},
		{"block", "empty-html", ""}, // cpt "document" is a frame, as in uBO's harness
	}
	if len(got) != len(want) {
		t.Fatalf("got %d output lines for %d inputs:\n%s", len(got), len(want), out)
	}
	for i, w := range want {
		if w.errPart != "" {
			if e, _ := got[i]["error"].(string); !strings.Contains(e, w.errPart) {
				t.Errorf("line %d: %v, want an error containing %q", i+1, got[i], w.errPart)
			}
			continue
		}
		if got[i]["decision"] != w.decision {
			t.Errorf("line %d: decision %v, want %s (%v)", i+1, got[i]["decision"], w.decision, got[i])
		}
		if w.response != "" && got[i]["response"] != w.response {
			t.Errorf("line %d: response %v, want %s", i+1, got[i]["response"], w.response)
		}
	}
}

func TestCheckConfigListsAllowDeny(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "hosts.txt")
	if err := os.WriteFile(list, []byte("0.0.0.0 ads.test metrics.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "pixelwall.yaml", "lists:\n  - name: home\n    path: "+list+"\nallow:\n  - good.metrics.test\ndeny:\n  - evil.test\n")
	code, out, errOut := runCmd(t, "", "check", "-config", cfg,
		"https://x.ads.test/a.gif", "https://good.metrics.test/a.gif", "https://metrics.test/a.gif", "https://www.evil.test/")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := decodeLines(t, out)
	want := []struct{ decision, list string }{{"block", "home"}, {"allow", "allow"}, {"block", "home"}, {"block", "deny"}}
	for i, w := range want {
		if got[i]["decision"] != w.decision || got[i]["list"] != w.list {
			t.Errorf("%s: %v %v, want %s by list %s", got[i]["url"], got[i]["decision"], got[i]["list"], w.decision, w.list)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top key", "lists: []\nallw:\n  - a.test\n", "pixelwall.yaml:2: allw: unknown key"},
		{"unknown nested key", "lists:\n  - name: a\n    path: /x\n    refrsh: 1h\n", "pixelwall.yaml:4: lists[0].refrsh: unknown key"},
		{"wrong shape", "allow: 5\n", "pixelwall.yaml:1: allow: want a list"},
		{"wrong scalar", "lists:\n  - name: a\n    path: /x\n    enabled: maybe\n", "pixelwall.yaml:4: lists[0].enabled: \"maybe\": want true or false"},
		{"list for a value", "lists:\n  - name: [a, b]\n", "pixelwall.yaml:2: lists[0].name: want a single value"},
		{"list without source", "lists:\n  - name: a\n", "pixelwall.yaml:2: lists[0].url: give exactly one of url and path"},
		{"bad format", "lists:\n  - name: a\n    path: /x\n    format: csv\n", "pixelwall.yaml:4: lists[0].format: unknown list format"},
		{"bad host", "deny:\n  - ok.test\n  - 'http://x/'\n", "pixelwall.yaml:3: deny[1]"},
		{"syntax", "lists: [\n", "pixelwall.yaml: yaml:"},
		{"bad local_names", "dns:\n  local_names: sometimes\n", "pixelwall.yaml:2: dns.local_names: \"sometimes\": want auto, answer or forward"},
		{"domain upstream", "dns:\n  domain_upstreams:\n    lan:\n      - 192.168.1.1\n      - 'quic://x'\n", "pixelwall.yaml:5: dns.domain_upstreams.lan[1]: upstream \"quic://x\""},
		{"domain without upstreams", "dns:\n  domain_upstreams:\n    lan: []\n", "pixelwall.yaml:3: dns.domain_upstreams.lan: no upstreams"},
		{"bad domain", "dns:\n  domain_upstreams:\n    'a..b': [192.168.1.1]\n", "pixelwall.yaml:3: dns.domain_upstreams.a..b: \"a..b\" is not a domain name"},
		{"domain upstreams shape", "dns:\n  domain_upstreams: [lan]\n", "pixelwall.yaml:2: dns.domain_upstreams: want a mapping"},
		{"wildcard domain", "dns:\n  domain_upstreams:\n    lan: [192.168.1.1]\n    '*.lan': [192.168.1.1]\n", "pixelwall.yaml:4: dns.domain_upstreams.*.lan: \"*.lan\" is not a domain name"},
		{"network as domain", "dns:\n  domain_upstreams:\n    192.168.0.0/16: [192.168.1.1]\n", "pixelwall.yaml:3: dns.domain_upstreams.192.168.0.0/16: \"192.168.0.0/16\" is not a domain name"},
		{"non-ASCII domain", "dns:\n  domain_upstreams:\n    é.lan: [192.168.1.1]\n", "pixelwall.yaml:3: dns.domain_upstreams.é.lan: \"é.lan\": write an international name"},
		{"bad deny_destinations", "http:\n  deny_destinations:\n    - 10.0.0.0/8\n    - lan\n", "pixelwall.yaml:4: http.deny_destinations[1]: \"lan\" is not a CIDR"},
		{"bad connect port", "http:\n  connect_ports: [443, 70000]\n", "pixelwall.yaml:2: http.connect_ports[1]: 70000 is not a TCP port"},
		{"domain twice", "dns:\n  domain_upstreams:\n    lan: [192.168.1.1]\n    Lan.: [192.168.1.2]\n", "dns.domain_upstreams.lan: the same domain as \"Lan.\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "pixelwall.yaml", tc.yaml)
			code, _, errOut := runCmd(t, "", "check", "-config", p, "https://a.test/")
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(errOut, filepath.Dir(p)) || !strings.Contains(errOut, strings.TrimPrefix(tc.want, "pixelwall.yaml")) {
				t.Errorf("stderr = %q, want it to name %q", errOut, tc.want)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	if code, _, errOut := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "", "check"); code != 2 || !strings.Contains(errOut, "give URLs") {
		t.Errorf("check without URLs: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "", "check", "-type", "bogus", "https://a.test/"); code != 2 || !strings.Contains(errOut, "unknown type") {
		t.Errorf("check -type bogus: exit %d, stderr %q", code, errOut)
	}
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "pixelwall ") {
		t.Errorf("version: exit %d, out %q", code, out)
	}
}
