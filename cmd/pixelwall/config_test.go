package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestConfigValidationBounds: values that cannot work are errors naming
// the file, the line and the key.
func TestConfigValidationBounds(t *testing.T) {
	tests := []struct {
		name, yaml, want string // want: "" for a config that loads
	}{
		{"ttl past uint32", "dns:\n  block_ttl: 2000000h\n", "pixelwall.yaml:2: dns.block_ttl: 2000000h0m0s: want 1s to 24h0m0s"},
		{"ttl over a day", "dns:\n  block_ttl: 25h\n", "pixelwall.yaml:2: dns.block_ttl:"},
		{"ttl zero", "dns:\n  block_ttl: 0s\n", "pixelwall.yaml:2: dns.block_ttl:"},
		{"ttl a day", "dns:\n  block_ttl: 24h\n", ""},
		{"timeout 1ns", "dns:\n  listen: 127.0.0.1:5353\n  timeout: 1ns\n", "pixelwall.yaml:3: dns.timeout: 1ns: want 50ms to 30s"},
		{"timeout 49ms", "dns:\n  timeout: 49ms\n", "pixelwall.yaml:2: dns.timeout:"},
		{"timeout 50ms", "dns:\n  timeout: 50ms\n", ""},
		{"timeout an hour", "dns:\n  timeout: 1h\n", "pixelwall.yaml:2: dns.timeout:"},
		{"list name escapes", "lists:\n  - name: ok\n    path: /x\n  - name: ../../escape\n    path: /y\n",
			"pixelwall.yaml:4: lists[1].name: list name \"../../escape\": cannot start with"},
		{"list name with a slash", "lists:\n  - name: a/../../b\n    path: /x\n", "pixelwall.yaml:2: lists[0].name: list name \"a/../../b\": only letters, digits"},
		{"list name hidden", "lists:\n  - name: .hidden\n    path: /x\n", "pixelwall.yaml:2: lists[0].name: list name \".hidden\": cannot start with '.'"},
		{"list name space", "lists:\n  - name: my list\n    path: /x\n", "pixelwall.yaml:2: lists[0].name:"},
		{"list name fine", "lists:\n  - name: My_List-2.v1\n    path: /x\n", ""},
		{"open proxy on every interface", "http:\n  listen: 0.0.0.0:8080\n  allow_clients:\n    - 192.168.0.0/16\n    - 0.0.0.0/0\n",
			"pixelwall.yaml:5: http.allow_clients[1]: \"0.0.0.0/0\" lets every address use the proxy listening on 0.0.0.0:8080"},
		{"open resolver on a public address", "dns:\n  listen: '[2001:db8::53]:53'\n  allow_clients: ['::/0']\n",
			"pixelwall.yaml:3: dns.allow_clients[0]: \"::/0\" lets every address use the resolver"},
		{"open resolver on a public IPv4", "dns:\n  listen: 203.0.113.5:53\n  allow_clients: [0.0.0.0/0]\n", "dns.allow_open_access: true"},
		{"open proxy, opted in", "http:\n  listen: 0.0.0.0:8080\n  allow_clients: [0.0.0.0/0]\n  allow_open_access: true\n", ""},
		{"open proxy on a LAN address", "http:\n  listen: 192.168.1.2:8080\n  allow_clients: [0.0.0.0/0]\n", ""},
		{"open proxy on loopback", "http:\n  listen: 127.0.0.1:8080\n  allow_clients: [0.0.0.0/0, '::/0']\n", ""},
		{"open but off", "dns:\n  listen: 'off'\n  allow_clients: [0.0.0.0/0]\n", ""},
		{"wide but not open", "http:\n  listen: 0.0.0.0:8080\n  allow_clients: [0.0.0.0/1, 10.0.0.0/8]\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("pixelwall.yaml", []byte(tc.yaml))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("parseConfig: %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("parseConfig error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestOpenAccessWarns: allow_clients open to every address are reported
// for the dashboard (Config.OpenAccess) and logged at WARN on start.
func TestOpenAccessWarns(t *testing.T) {
	cfg, err := parseConfig("pixelwall.yaml", []byte("http:\n  listen: 192.168.1.2:8080\n  allow_clients: [0.0.0.0/0, 10.0.0.0/8]\n"+
		"dns:\n  listen: 0.0.0.0:53\n  allow_clients: ['::/0']\n  allow_open_access: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.OpenAccess()
	if len(got) != 2 || !strings.Contains(got[0], "http.allow_clients has 0.0.0.0/0") || !strings.Contains(got[1], "dns.allow_clients has ::/0") {
		t.Errorf("OpenAccess() = %q, want one warning for each section", got)
	}
	if got := defaultConfig().OpenAccess(); len(got) != 0 {
		t.Errorf("default config OpenAccess() = %q, want none", got)
	}

	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	warnIfWide(logger, "http proxy", "192.168.1.2:8080", cfg.HTTP.AllowClients)
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "OPEN ACCESS") || !strings.Contains(out, "0.0.0.0/0") {
		t.Errorf("start-up log %q, want a WARN line about open access", out)
	}
	buf.Reset()
	warnIfWide(logger, "http proxy", "127.0.0.1:8080", []string{"127.0.0.0/8"})
	if strings.Contains(buf.String(), "WARN") {
		t.Errorf("loopback-only config logged %q", buf.String())
	}
}
