package blocklog

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://esp.test/o?email=a%40b.c&id=42#x", "https://esp.test/o?email=…&id=…"},
		{"https://esp.test/o", "https://esp.test/o"},
		{"https://esp.test/o#frag?x=1", "https://esp.test/o"},
		{"https://esp.test/o?", "https://esp.test/o"},
		{"https://esp.test/?a=1&&b=2&", "https://esp.test/?a=…&b=…"},
		{"https://esp.test/?empty=&flag", "https://esp.test/?empty=&…"},
		{"https://esp.test/?a1b2c3d4", "https://esp.test/?…"},
		{"https://esp.test/?q=a=b", "https://esp.test/?q=…"},
		{"https://user:secret@esp.test/p?x=1", "https://esp.test/p?x=…"},
		{"https://esp.test/users/a@b.c/x", "https://esp.test/users/a@b.c/x"},
		{"https://esp.test?x=1", "https://esp.test?x=…"},
		{"esp.test:443", "esp.test:443"},
		{"", ""},
	} {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStripURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://esp.test/o?email=a%40b.c&id=42#x", "https://esp.test/o?email=a%40b.c&id=42"},
		{"http://u@esp.test/?a=b@c", "http://esp.test/?a=b@c"},
		{"https://esp.test/o", "https://esp.test/o"},
	} {
		if got := stripURL(tc.in); got != tc.want {
			t.Errorf("stripURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAnonymize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.168.1.77", "192.168.1.0"},
		{"192.168.1.77:51234", "192.168.1.0"},
		{"2001:db8:1:2::5", "2001:db8:1::"},
		{"[2001:db8:1:2::5]:443", "2001:db8:1::"},
		{"fe80::1%eth0", "fe80::"},
		{"::ffff:10.1.2.3", "10.1.2.0"},
		{"not-an-ip", "not-an-ip"},
		{"", ""},
	} {
		if got := anonymize(tc.in); got != tc.want {
			t.Errorf("anonymize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReverseHost(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"www.example.com", "com.example.www"},
		{"example.com", "com.example"},
		{"localhost", "localhost"},
		{"192.0.2.1", "1.2.0.192"},
		{"", ""},
		{"a..b", "b..a"},
	} {
		if got := reverseHost(tc.in); got != tc.want {
			t.Errorf("reverseHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if back := reverseHost(reverseHost(tc.in)); back != tc.in {
			t.Errorf("reverseHost twice(%q) = %q", tc.in, back)
		}
	}
}

// TestPrivacyInAdd checks that redaction and anonymisation happen in Add,
// before the entry is stored or written as JSON.
func TestPrivacyInAdd(t *testing.T) {
	const raw = "https://esp.test/o?email=a%40b.c&id=42#x"
	for _, tc := range []struct {
		name             string
		opts             Options
		url, detail, cli string
	}{
		{"defaults", Options{},
			"https://esp.test/o?email=…&id=…", "https://esp.test/next?to=…", "192.168.1.77"},
		{"keep query values", Options{KeepQueryValues: true},
			"https://esp.test/o?email=a%40b.c&id=42", "https://esp.test/next?to=a%40b.c", "192.168.1.77"},
		{"anonymize", Options{AnonymizeClients: true},
			"https://esp.test/o?email=…&id=…", "https://esp.test/next?to=…", "192.168.1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.opts.JSON = &buf
			l := openTest(t, tc.opts)
			l.Add(Entry{Layer: LayerHTTP, Kind: "unwrapped", Client: "192.168.1.77", Host: "esp.test",
				URL: raw, Detail: "https://esp.test/next?to=a%40b.c"})
			l.Add(Entry{Layer: LayerDNS, Kind: "blocked", Client: "2001:db8:1:2::5", Host: "esp.test", Detail: "not a URL: a=b"})
			flush(t, l)
			got := query(t, l, Filter{Layer: LayerHTTP})
			if len(got) != 1 {
				t.Fatalf("%d entries", len(got))
			}
			if got[0].URL != tc.url || got[0].Detail != tc.detail || got[0].Client != tc.cli {
				t.Errorf("stored URL %q, Detail %q, Client %q; want %q, %q, %q",
					got[0].URL, got[0].Detail, got[0].Client, tc.url, tc.detail, tc.cli)
			}
			dns := query(t, l, Filter{Layer: LayerDNS})
			wantCli := "2001:db8:1:2::5"
			if tc.opts.AnonymizeClients {
				wantCli = "2001:db8:1::"
			}
			if dns[0].Client != wantCli || dns[0].Detail != "not a URL: a=b" {
				t.Errorf("stored DNS entry Client %q Detail %q, want %q and the detail untouched", dns[0].Client, dns[0].Detail, wantCli)
			}
			js := buf.String()
			if !tc.opts.KeepQueryValues && strings.Contains(js, "a%40b.c") {
				t.Errorf("JSON lines carry the query value: %s", js)
			}
			if tc.opts.AnonymizeClients && strings.Contains(js, "192.168.1.77") {
				t.Errorf("JSON lines carry the client address: %s", js)
			}
			if strings.Contains(js, "#x") {
				t.Errorf("JSON lines carry the fragment: %s", js)
			}
		})
	}
}
