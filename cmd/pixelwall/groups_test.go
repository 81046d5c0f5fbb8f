package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pixelwall/pixelwall/blocklist"
)

const familyConfig = `lists:
  - name: easyprivacy
    url: https://easylist.to/easylist/easyprivacy.txt
  - name: mine
    path: /etc/pixelwall/mine.txt
groups:
  kids: {lists: [easyprivacy, mine], deny: ["games.example"], block_mode: nxdomain}
  work: {allow: ["crm-tracking.example"], heuristic: false}
clients:
  - {name: tablet, addresses: ["192.168.1.23"], group: kids}
  - {name: laptop, addresses: ["192.168.1.40/32", "fd00::40"], group: work}
`

func TestGroupsConfig(t *testing.T) {
	cfg, err := parseConfig("pixelwall.yaml", []byte(familyConfig))
	if err != nil {
		t.Fatal(err)
	}
	lc := listsConfig(cfg, nil, false)
	if len(lc.Groups) != 2 || lc.Groups[0].Name != "kids" || lc.Groups[0].Settings.BlockMode != "nxdomain" ||
		len(lc.Groups[0].Lists) != 2 || lc.Groups[1].Settings.Heuristic == nil || *lc.Groups[1].Settings.Heuristic {
		t.Fatalf("groups: %+v", lc.Groups)
	}
	want := []blocklist.Client{
		{Name: "tablet", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.23/32")}, Group: "kids"},
		{Name: "laptop", Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.40/32"), netip.MustParsePrefix("fd00::40/128")}, Group: "work"},
	}
	if len(lc.Clients) != 2 || lc.Clients[1].Prefixes[1] != want[1].Prefixes[1] || lc.Clients[0].Group != "kids" {
		t.Fatalf("clients: %+v", lc.Clients)
	}
}

func TestGroupsConfigErrors(t *testing.T) {
	tests := []struct{ change, old, want string }{
		{"unknown list", "[easyprivacy, mine]", "pixelwall.yaml:7: groups.kids.lists[1]: no list named \"minez\""},
		{"unknown group", "group: work}", "pixelwall.yaml:11: clients[1].group: no group \"wrok\""},
		{"same network", `"fd00::40"]`, "pixelwall.yaml:11: clients[1].addresses[1]: 192.168.1.23/32 is already the network of client \"tablet\""},
		{"bad block mode", "block_mode: nxdomain", "pixelwall.yaml:7: groups.kids.block_mode:"},
		{"bad host", `deny: ["games.example"]`, "pixelwall.yaml:7: groups.kids.deny[0]: \"games example\" is not a hostname"},
		{"unknown key", "heuristic: false", "pixelwall.yaml:8: groups.work.heuristics: unknown key"},
	}
	repl := map[string]string{
		"unknown list": "[easyprivacy, minez]", "unknown group": "group: wrok}", "same network": `"192.168.1.23"]`,
		"bad block mode": "block_mode: sinkhole", "bad host": `deny: ["games example"]`, "unknown key": "heuristics: false",
	}
	for _, tc := range tests {
		text := strings.Replace(familyConfig, tc.old, repl[tc.change], 1)
		_, err := parseConfig("pixelwall.yaml", []byte(text))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %s…", tc.change, err, tc.want)
		}
	}
}
