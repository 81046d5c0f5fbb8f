package resolver

import (
	"log/slog"
	"testing"

	"github.com/pixelwall/pixelwall/blocklist"
)

// rulesConfig is a lists config of one list of rules, without the embedded
// lists.
func rulesConfig(name, rules string) blocklist.Config {
	return blocklist.Config{NoDefaults: true, Sources: []blocklist.Source{{Name: name, Text: rules}}}
}

// testLists is a real lists service holding rules; tests swap lists with
// its Reload and add allows with its Allow.
func testLists(t testing.TB, rules string) *blocklist.Service {
	t.Helper()
	s, err := blocklist.NewService(rulesConfig("test", rules), blocklist.ServiceOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// staticPolicy is a policy of a compiled matcher, for benchmarks.
func staticPolicy(m *blocklist.Matcher) func() *blocklist.Policy {
	p := blocklist.NewPolicy(m, nil, nil)
	return func() *blocklist.Policy { return p }
}
