package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// seedLog stores entries in the block log of the data dir data, as run
// would.
func seedLog(t *testing.T, data string, entries ...blocklog.Entry) {
	t.Helper()
	l, err := blocklog.Open(blocklog.Options{Path: filepath.Join(data, "log", "pixelwall.db")})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		l.Add(e)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func blockedAt(host string, at time.Time) blocklog.Entry {
	return blocklog.Entry{Time: at, Layer: "http", Kind: "blocked", Client: "127.0.0.1", Host: host,
		URL: "http://" + host + "/p.gif", Rule: "||" + host + "^", List: "deny"}
}

// TestFlagOrder: every command takes its flags before or after its
// subcommand, and the common flags before the command too.
func TestFlagOrder(t *testing.T) {
	data := t.TempDir()
	seedLog(t, data, blockedAt("one.test", time.Now()), blockedAt("two.test", time.Now()))
	mine := writeFile(t, "mine.txt", "||mine.test^\n")
	cfg := writeFile(t, "pixelwall.yaml", "lists:\n  - name: mine\n    path: "+mine+"\n")
	tests := []struct {
		name string
		args []string
		want string // in stdout
	}{
		{"ca path, flags after", []string{"ca", "path", "-data", data}, filepath.Join(data, "ca", "ca.pem")},
		{"ca export, flags after", []string{"ca", "export", "-data", data}, "BEGIN CERTIFICATE"},
		{"ca, flags before", []string{"ca", "-data", data, "path"}, filepath.Join(data, "ca", "ca.pem")},
		{"ca, flags before the command", []string{"-data", data, "ca", "path"}, filepath.Join(data, "ca", "ca.pem")},
		{"lists show, flags after", []string{"lists", "show", "-config", cfg, "-data", data}, "mine  (" + mine},
		{"lists show, flags around", []string{"lists", "-config", cfg, "show", "-data", data}, "mine  (" + mine},
		{"lists show, flags before the command", []string{"-config", cfg, "-data", data, "lists", "show"}, "mine  (" + mine},
		{"logs, flags after", []string{"logs", "-data", data, "-host", "one.test"}, "one.test"},
		{"logs, flags before the command", []string{"-data", data, "logs", "-top", "hosts"}, "two.test"},
		{"check, flags after the URL", []string{"check", "https://mine.test/x.gif", "-config", cfg}, `"list":"mine"`},
		{"check, -list after the URL", []string{"check", "https://mine.test/x.gif", "-no-default-lists", "-list", mine}, `"decision":"block"`},
		{"check, flags between URLs", []string{"check", "-no-default-lists", "https://a.test/", "-list", mine, "https://mine.test/x.gif"}, `"decision":"block"`},
		{"logs purge, flags after", []string{"logs", "purge", "-since", "1h", "-data", data}, "purged 0 decisions"},
		{"logs purge, flags around", []string{"logs", "-data", data, "purge", "-since", "1h"}, "purged 0 decisions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, "", tc.args...)
			if code != 0 || !strings.Contains(out, tc.want) {
				t.Errorf("pixelwall %s: exit %d, stdout %q, stderr %q; want exit 0 and %q", strings.Join(tc.args, " "), code, out, errOut, tc.want)
			}
		})
	}
	t.Run("dashboard password, flags after", func(t *testing.T) {
		code, out, errOut := runCmd(t, "correct horse\n", "dashboard", "password", "-config", cfg)
		if code != 0 || bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out)), []byte("correct horse")) != nil {
			t.Errorf("exit %d, stdout %q, stderr %q; want the hash of the password", code, out, errOut)
		}
	})
}

// TestHelp: -h on every command and subcommand prints its synopsis,
// subcommands and flags to stdout and exits 0.
func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"usage: pixelwall", "run [-http ADDR|off] [-dns ADDR|off] [-dashboard ADDR|off]", "logs purge -since DUR | -all", "30d"}},
		{[]string{"help"}, []string{"usage: pixelwall", "dashboard password"}},
		{[]string{"run", "-h"}, []string{"usage: pixelwall run", "-dashboard address", "-http address", "-dns address", "off", "-no-refresh", "-config file", "-data dir"}},
		{[]string{"ca", "-h"}, []string{"usage: pixelwall ca", "path ", "export ", "regenerate ", "-data dir"}},
		{[]string{"ca", "export", "-h"}, []string{"usage: pixelwall ca", "regenerate "}},
		{[]string{"lists", "-h"}, []string{"usage: pixelwall lists", "show ", "update ", "-config file"}},
		{[]string{"lists", "show", "-h"}, []string{"usage: pixelwall lists", "update "}},
		{[]string{"logs", "-h"}, []string{"usage: pixelwall logs", "purge ", "-top key", "kinds", "-layer layer", "http or dns", "-n int", "-kind kind", "-reason kind", "an alias of -kind", "-since duration", "(default 1d)", "-all", "-follow"}},
		{[]string{"logs", "purge", "-h"}, []string{"usage: pixelwall logs", "-all", "-since duration"}},
		{[]string{"help", "logs"}, []string{"usage: pixelwall logs", "-top key"}},
		{[]string{"dashboard", "-h"}, []string{"usage: pixelwall dashboard", "password ", "without echo"}},
		{[]string{"dashboard", "password", "-h"}, []string{"usage: pixelwall dashboard", "password "}},
		{[]string{"check", "-h"}, []string{"usage: pixelwall check", "-list file", "-no-default-lists", "-source URL", "-type type"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, "", tc.args...)
			if code != 0 || errOut != "" {
				t.Errorf("exit %d, stderr %q; want 0 and nothing", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestUsageErrorsOnce: a mistake in the command line is one message (and
// a pointer to -h) on stderr, not the whole usage, with exit code 2.
func TestUsageErrorsOnce(t *testing.T) {
	data := t.TempDir()
	seedLog(t, data, blockedAt("one.test", time.Now()))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"run", "-dashboard"}, "flag needs an argument: -dashboard"},
		{[]string{"run", "-data", data, "-http", "127.0.0.1:99999"}, "-http: \"127.0.0.1:99999\": the port must be a number from 1 to 65535"},
		{[]string{"run", "-data", data, "-dns", "nowhere"}, "-dns: \"nowhere\" is not host:port (or off)"},
		{[]string{"run", "-data", data, "-dashboard", "0.0.0.0:8081"}, "-dashboard: the dashboard listens beyond loopback"},
		{[]string{"run", "extra"}, "unexpected arguments: [extra]"},
		{[]string{"lists", "show", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"lists"}, "want show or update"},
		{[]string{"ca", "-data", data}, "want one of: path, export, regenerate"},
		{[]string{"ca", "frobnicate", "-data", data}, "unknown ca command \"frobnicate\""},
		{[]string{"dashboard"}, "want: dashboard password"},
		{[]string{"logs", "-data", data, "-since", "3x"}, "invalid value \"3x\" for flag -since: not a duration like 90s, 10m, 12h, 30d or 1d12h"},
		{[]string{"logs", "-data", data, "-top", "nonsense"}, "-top \"nonsense\": want one of hosts, rules, lists, clients, kinds"},
		{[]string{"logs", "-data", data, "-layer", "smtp"}, "-layer \"smtp\": want http or dns"},
		{[]string{"logs", "-data", data, "-reason", "nonsense"}, "-kind \"nonsense\": want one of access-refused, blocked, connect-refused, destination-refused, heuristic,"},
		{[]string{"logs", "-data", data, "-kind", "nonsense"}, "-kind \"nonsense\": want one of"},
		{[]string{"logs", "purge", "-data", data}, "purge: give -since DURATION (delete entries older than it) or -all"},
		{[]string{"logs", "purge", "-data", data, "-since", "1h", "-all"}, "purge: give -since DURATION"},
		{[]string{"logs", "-data", data, "-all"}, "-all is for purge"},
		{[]string{"check", "-type", "bogus", "https://a.test/"}, "unknown type \"bogus\""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(t, "", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if strings.Count(errOut, tc.want) != 1 {
				t.Errorf("stderr %q, want %q once", errOut, tc.want)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "pixelwall "+tc.args[0]+": ") || !strings.Contains(lines[1], "-h\" for usage") {
				t.Errorf("stderr %q: want the error and a pointer to -h, two lines", errOut)
			}
		})
	}
	// The log is untouched by the refused purges.
	if code, out, _ := runCmd(t, "", "logs", "-data", data); code != 0 || !strings.Contains(out, "one.test") {
		t.Errorf("after refused purges: exit %d, %q; want the entry still there", code, out)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"90s", 90 * time.Second}, {"0", 0}, {"30d", 30 * 24 * time.Hour}, {"1d12h", 36 * time.Hour}, {"2d30m", 48*time.Hour + 30*time.Minute}, {"1h30m", 90 * time.Minute}} {
		if got, err := parseDuration(tc.in); err != nil || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "-1d", "-5m", "1h2d", "12", "3x", "1d-1h", "+1h", "99999999d"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}

// TestDurationsWithDays: the config and -since take days.
func TestDurationsWithDays(t *testing.T) {
	cfg, err := parseConfig("pixelwall.yaml", []byte("log:\n  retention: 30d\ndns:\n  block_ttl: 0d30s\nlists:\n  - name: a\n    path: /x\n    refresh: 2d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.Log.Retention) != 720*time.Hour || time.Duration(cfg.DNS.BlockTTL) != 30*time.Second || time.Duration(cfg.Lists[0].Refresh) != 48*time.Hour {
		t.Errorf("retention %v, block_ttl %v, refresh %v; want 720h, 30s, 48h", time.Duration(cfg.Log.Retention), time.Duration(cfg.DNS.BlockTTL), time.Duration(cfg.Lists[0].Refresh))
	}
	data := t.TempDir()
	seedLog(t, data, blockedAt("recent.test", time.Now().Add(-30*time.Hour)), blockedAt("old.test", time.Now().Add(-40*time.Hour)))
	code, out, errOut := runCmd(t, "", "logs", "-data", data, "-since", "1d12h")
	if code != 0 || !strings.Contains(out, "recent.test") || strings.Contains(out, "old.test") {
		t.Errorf("logs -since 1d12h: exit %d, %q, %q; want recent.test (30h ago) and not old.test (40h ago)", code, out, errOut)
	}
	code, out, _ = runCmd(t, "", "logs", "purge", "-data", data, "-since", "1d12h")
	if code != 0 || !strings.Contains(out, "purged 1 decisions") {
		t.Errorf("logs purge -since 1d12h: exit %d, %q; want 1 purged", code, out)
	}
}

// TestHomeExpansion: ~ in data_dir, list paths and -data is the home
// directory, not a directory named "~".
func TestHomeExpansion(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	wd := t.TempDir()
	t.Chdir(wd)
	if err := os.WriteFile(filepath.Join(home, "mine.txt"), []byte("||mine.test^\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "pixelwall.yaml", "data_dir: ~/pwdata\nlists:\n  - name: mine\n    path: ~/mine.txt\n")
	code, out, errOut := runCmd(t, "", "ca", "path", "-config", cfg)
	if want := filepath.Join(home, "pwdata", "ca", "ca.pem"); code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("ca path with data_dir ~/pwdata: exit %d, %q, %q; want %s", code, out, errOut, want)
	}
	code, out, errOut = runCmd(t, "", "check", "-config", cfg, "https://mine.test/p.gif")
	if code != 0 || !strings.Contains(out, `"list":"mine"`) || errOut != "" {
		t.Errorf("check with list path ~/mine.txt: exit %d, %q, %q; want blocked by mine", code, out, errOut)
	}
	code, out, _ = runCmd(t, "", "ca", "path", "-data=~/other")
	if want := filepath.Join(home, "other", "ca", "ca.pem"); code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("ca path -data=~/other: exit %d, %q; want %s", code, out, want)
	}
	code, out, errOut = runCmd(t, "", "ca", "path", "-config", "~/none.yaml")
	if code != 1 || !strings.Contains(errOut, filepath.Join(home, "none.yaml")) {
		t.Errorf("-config ~/none.yaml: exit %d, %q, %q; want an error naming %s", code, out, errOut, filepath.Join(home, "none.yaml"))
	}
	if _, err := os.Stat(filepath.Join(wd, "~")); err == nil {
		t.Error(`a directory named "~" was created in the working directory`)
	}
}

// TestConfigKeyErrors: wrong types, bad durations and ports name the
// file, the line and the key.
func TestConfigKeyErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"bad duration", "dns:\n  timeout: 2x\n", ":2: dns.timeout: \"2x\" is not a duration like 90s, 10m, 12h, 30d or 1d12h"},
		{"negative duration", "log:\n  retention: -1h\n", ":2: log.retention: \"-1h\" is not a duration"},
		{"list refresh", "lists:\n  - name: a\n    path: /x\n    refresh: weekly\n", ":4: lists[0].refresh: \"weekly\" is not a duration"},
		{"number", "dns:\n  cache_size: many\n", ":2: dns.cache_size: \"many\": want a whole number"},
		{"bool", "http:\n  gpc: sometimes\n", ":2: http.gpc: \"sometimes\": want true or false"},
		{"port too big", "http:\n  listen: 127.0.0.1:99999\n", ":2: http.listen: \"127.0.0.1:99999\": the port must be a number from 1 to 65535"},
		{"port by name", "dns:\n  listen: 127.0.0.1:domain\n", ":2: dns.listen: \"127.0.0.1:domain\": the port must be a number"},
		{"dashboard port", "dashboard:\n  listen: 127.0.0.1:-1\n", ":2: dashboard.listen: \"127.0.0.1:-1\": the port must be"},
		{"upstream port 0", "dns:\n  upstreams:\n    - 127.0.0.1:53\n    - 127.0.0.1:0\n", ":4: dns.upstreams[1]: \"127.0.0.1:0\": the port must be a number from 1 to 65535"},
		{"tls upstream port", "dns:\n  upstreams: ['tls://127.0.0.1:70000#dns.test']\n", ":2: dns.upstreams[0]: \"tls://127.0.0.1:70000#dns.test\": the port must be"},
		{"https upstream port", "dns:\n  upstreams: ['https://127.0.0.1:0/dns-query']\n", ":2: dns.upstreams[0]: \"https://127.0.0.1:0/dns-query\": the port must be"},
		{"domain upstream port", "dns:\n  domain_upstreams:\n    lan: ['192.168.1.1:65536']\n", ":3: dns.domain_upstreams.lan[0]: \"192.168.1.1:65536\": the port must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "pixelwall.yaml", tc.yaml)
			code, _, errOut := runCmd(t, "", "check", "-config", p, "https://a.test/")
			if code != 1 || !strings.Contains(errOut, p+tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, p+tc.want)
			}
		})
	}
	// Port 0 is a free port for a listener, and upstreams without a port
	// use their protocol's.
	ok := "http:\n  listen: 127.0.0.1:0\ndns:\n  listen: '[::1]:0'\n  upstreams: [127.0.0.1, 'tls://127.0.0.1#dns.test', 'https://127.0.0.1/dns-query', 'udp://127.0.0.1:5353']\ndashboard:\n  listen: localhost:0\n"
	if _, err := parseConfig("pixelwall.yaml", []byte(ok)); err != nil {
		t.Errorf("parseConfig(listeners on port 0, upstreams without a port) = %v, want nil", err)
	}
}

// TestRunListenFlags: -http, -dns and -dashboard override the config, and
// off disables a service.
func TestRunListenFlags(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// The config's addresses are all taken: only the flags let run start.
	cfg := writeFile(t, "pixelwall.yaml", fmt.Sprintf("lists: []\nhttp:\n  listen: %[1]s\ndns:\n  listen: 'off'\n  upstreams: [%[2]s]\ndashboard:\n  listen: %[1]s\n", taken.Addr(), dnsStub(t)))
	data := t.TempDir()

	addr, stop, out := startRun(t, "-config", cfg, "-data", data, "-no-refresh", "-http", "127.0.0.1:0", "-dashboard", "127.0.0.1:0")
	dash := waitLine(t, out, "dashboard listening on ")
	if addr == taken.Addr().String() || strings.Contains(dash, taken.Addr().String()) || !strings.HasPrefix(dash, "http://127.0.0.1:") {
		t.Errorf("proxy on %s, dashboard on %s; want both on fresh ports, not the config's %s", addr, dash, taken.Addr())
	}
	if code := stop(); code != 0 {
		t.Errorf("run exited %d", code)
	}

	_, stop, out = startRun(t, "-no-refresh", "-config", cfg, "-data", data, "-dashboard", "off", "-http", "127.0.0.1:0")
	if code := stop(); code != 0 {
		t.Errorf("run exited %d", code)
	}
	if s := out.String(); strings.Contains(s, "dashboard listening") || !strings.Contains(s, "pixelwall stopped") {
		t.Errorf("-dashboard off: run printed\n%s\nwant no dashboard", s)
	}

	code, _, errOut := runCmd(t, "", "run", "-config", cfg, "-data", data, "-http", "off", "-dns", "off")
	if code != 1 || !strings.Contains(errOut, "every service is off") {
		t.Errorf("-http off -dns off: exit %d, %q; want 1 and nothing to run", code, errOut)
	}
}

// TestLogsKindFlag: -kind and its old name -reason select the KIND column;
// a kind found in the log is accepted even when pixelwall does not know it.
func TestLogsKindFlag(t *testing.T) {
	data := t.TempDir()
	stripped := blockedAt("strip.test", time.Now())
	stripped.Kind = "params-stripped"
	custom := blockedAt("custom.test", time.Now())
	custom.Kind = "learned-somewhere"
	seedLog(t, data, blockedAt("one.test", time.Now()), stripped, custom)
	for _, flagName := range []string{"-kind", "-reason"} {
		code, out, errOut := runCmd(t, "", "logs", "-data", data, flagName, "params-stripped")
		if code != 0 || !strings.Contains(out, "strip.test") || strings.Contains(out, "one.test") {
			t.Errorf("logs %s params-stripped: exit %d, %q, %q; want only strip.test", flagName, code, out, errOut)
		}
	}
	if code, out, _ := runCmd(t, "", "logs", "-data", data, "-kind", "learned-somewhere"); code != 0 || !strings.Contains(out, "custom.test") {
		t.Errorf("logs -kind learned-somewhere (a kind in the log): exit %d, %q", code, out)
	}
	if code, out, _ := runCmd(t, "", "logs", "-data", data, "-top", "kinds"); code != 0 || !strings.Contains(out, "params-stripped") || !strings.Contains(out, "KIND") {
		t.Errorf("logs -top kinds: exit %d, %q", code, out)
	}
}

// TestLogsPurge: -all and -since 0 delete everything, -since DUR what is
// older.
func TestLogsPurge(t *testing.T) {
	data := t.TempDir()
	seedLog(t, data, blockedAt("new.test", time.Now()), blockedAt("old.test", time.Now().Add(-48*time.Hour)))
	if code, out, errOut := runCmd(t, "", "logs", "purge", "-data", data, "-since", "1d"); code != 0 || out != "purged 1 decisions\n" {
		t.Errorf("purge -since 1d: exit %d, %q, %q; want 1 purged", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "", "logs", "purge", "-all", "-data", data); code != 0 || out != "purged 1 decisions\n" {
		t.Errorf("purge -all: exit %d, %q, %q; want 1 purged", code, out, errOut)
	}
}

// syncBuffer is an io.Writer the test can read while a command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsFollowOnce: `logs -follow` prints each new entry once, and none
// that -since left out, whether the log held entries before or none ever.
func TestLogsFollowOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  []blocklog.Entry
	}{
		{"log with older entries", []blocklog.Entry{blockedAt("old1.test", time.Now().Add(-time.Hour)), blockedAt("old2.test", time.Now().Add(-time.Hour))}},
		{"log that never held an entry", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			seedLog(t, data, tc.old...)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errOut syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"logs", "-follow", "-since", "1s", "-data", data}, strings.NewReader(""), &out, &errOut)
			}()
			time.Sleep(700 * time.Millisecond) // the first query and a poll of the follower
			w, err := blocklog.Open(blocklog.Options{Path: filepath.Join(data, "log", "pixelwall.db")})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			// Two at once: a follower that takes the oldest of a batch as
			// its mark prints the newer one again.
			w.Add(blockedAt("new1.test", time.Now()))
			w.Add(blockedAt("new2.test", time.Now()))
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "new2.test") && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(1200 * time.Millisecond) // two more polls, which must print nothing
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("logs -follow exited %d: %s", code, errOut.String())
			}
			got := out.String()
			for _, h := range []string{"new1.test", "new2.test"} {
				if n := strings.Count(got, "  "+h+"  "); n != 1 {
					t.Errorf("%s printed %d times, want once:\n%s", h, n, got)
				}
			}
			if strings.Contains(got, "old") {
				t.Errorf("entries older than -since printed:\n%s", got)
			}
		})
	}
}

// TestCheckListMissing: a -list file that cannot be read is an error
// naming it, not a "pass" for everything.
func TestCheckListMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent.txt")
	code, out, errOut := runCmd(t, "", "check", "-list", missing, "https://a.test/p.gif")
	if code != 1 || out != "" || !strings.Contains(errOut, missing) || !strings.Contains(errOut, "no such file") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing decided, and an error naming %s", code, out, errOut, missing)
	}
}

// TestListsShowLastError: a url list whose downloads failed shows the
// reason saved in its metadata, and the first failure says there is no
// copy yet.
func TestListsShowLastError(t *testing.T) {
	fetchBackoff = func(int) time.Duration { return time.Millisecond }
	defer func() { fetchBackoff = nil }()
	h := serveList(t, "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>log in first</body></html>\n")
	cfg := writeFile(t, "pixelwall.yaml", "lists:\n  - name: mine\n    url: "+h.url+"\n")
	data := t.TempDir()
	code, out, errOut := runCmd(t, "", "lists", "update", "-config", cfg, "-data", data)
	if code != 1 || !strings.Contains(out, "mine: FAILED, no copy yet") || !strings.Contains(errOut, "1 of 1 lists could not be updated") {
		t.Errorf("lists update: exit %d, %q, %q; want 1 and no copy yet", code, out, errOut)
	}
	code, out, errOut = runCmd(t, "", "lists", "show", "-config", cfg, "-data", data)
	if code != 0 || !strings.Contains(out, "mine") || !strings.Contains(out, "HTML page") || strings.Contains(out, "not downloaded yet") || strings.Contains(out, "last good copy") {
		t.Errorf("lists show: exit %d, %q, %q; want the saved error (an HTML page), not \"not downloaded yet\" nor a last good copy", code, out, errOut)
	}
}

// TestDashboardPasswordPiped: a piped password is one line; the command
// does not wait for the end of its input.
func TestDashboardPasswordPiped(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), []string{"dashboard", "password"}, pr, &out, &errOut) }()
	if _, err := io.WriteString(pw, "correct horse battery\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 || bcrypt.CompareHashAndPassword([]byte(strings.TrimSpace(out.String())), []byte("correct horse battery")) != nil {
			t.Errorf("exit %d, stdout %q, stderr %q; want the password's hash", code, out.String(), errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dashboard password waits for the end of its input after a line")
	}
	if code, _, errOut := runCmd(t, "short\n", "dashboard", "password"); code != 1 || !strings.Contains(errOut, "at least 8") {
		t.Errorf("short password: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "", "dashboard", "password"); code != 1 || !strings.Contains(errOut, "no password on stdin") {
		t.Errorf("empty stdin: exit %d, %q", code, errOut)
	}
}

// TestRunOfflineFirstDownload: a url list that cannot be downloaded on the
// first run is reported as having no copy yet, not as keeping one.
func TestRunOfflineFirstDownload(t *testing.T) {
	fetchBackoff = func(int) time.Duration { return time.Millisecond }
	defer func() { fetchBackoff = nil }()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := "http://" + closed.Addr().String() + "/list.txt"
	closed.Close()
	cfg := writeFile(t, "pixelwall.yaml", "lists:\n  - name: remote\n    url: "+unreachable+"\ndns:\n  listen: 'off'\n  upstreams: ["+dnsStub(t)+"]\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "-config", cfg, "-data", t.TempDir(), "-http", "127.0.0.1:0", "-dashboard", "off"}, strings.NewReader(""), &out, &errOut)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(errOut.String(), "list=remote err="); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no word on the failed download; stderr:\n%s", errOut.String())
		}
	}
	cancel()
	<-done
	if s := errOut.String(); !strings.Contains(s, "no copy") || strings.Contains(s, "last good copy") {
		t.Errorf("stderr:\n%s\nwant \"no copy\", not \"the last good copy stays\"", s)
	}
}
