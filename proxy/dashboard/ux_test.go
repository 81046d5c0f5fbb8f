package dashboard

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// blockRecorder records block actions.
type blockRecorder struct {
	mu  sync.Mutex
	got []BlockAction
	err error
}

func (b *blockRecorder) block(a BlockAction) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, a)
	return b.err
}

func (b *blockRecorder) actions() []BlockAction {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BlockAction(nil), b.got...)
}

func TestSetupSteps(t *testing.T) {
	s := newServer(t, Options{Proxy: "192.168.1.5:8080"})
	body := get(t, s, "/")
	for _, want := range []string{"Set up pixelwall in three steps", "<code>192.168.1.5:8080</code>",
		`<a href="http://192.168.1.5:8080/proxy.pac">`, `<a href="http://192.168.1.5:8080/">`, "Come back here"} {
		if !strings.Contains(body, want) {
			t.Errorf("empty overview lacks %q", want)
		}
	}
	// Without the address, the steps point at pixelwall.internal.
	if body := get(t, newServer(t, Options{}), "/"); !strings.Contains(body, `<a href="http://pixelwall.internal/">`) {
		t.Error("setup steps without Options.Proxy do not link the CA page")
	}
	// Once something is logged, the steps go.
	l := newLog(t)
	add(t, l, sample()...)
	if body := get(t, newServer(t, Options{Log: l, Proxy: "192.168.1.5:8080"}), "/"); strings.Contains(body, "three steps") {
		t.Error("the setup steps show on a dashboard with entries")
	}
}

func TestOverviewRangesAndLayers(t *testing.T) {
	l := newLog(t)
	now := time.Now()
	add(t, l,
		blocklog.Entry{Time: now.Add(-10 * time.Minute), Layer: "http", Kind: "blocked", Host: "a.tracker.test", Rule: "||tracker.test^", List: "easyprivacy"},
		blocklog.Entry{Time: now.Add(-10 * time.Minute), Layer: "dns", Kind: "blocked", Host: "b.tracker.test", Rule: "b.tracker.test", List: "hosts"},
		blocklog.Entry{Time: now.Add(-10 * time.Minute), Layer: "dns", Kind: "blocked", Host: "c.tracker.test", Rule: "c.tracker.test", List: "hosts"},
		blocklog.Entry{Time: now.Add(-3 * time.Hour), Layer: "http", Kind: "blocked", Host: "old.tracker.test", Rule: "||tracker.test^", List: "easyprivacy"},
		blocklog.Entry{Time: now.Add(-3 * 24 * time.Hour), Layer: "dns", Kind: "blocked", Host: "older.tracker.test", Rule: "older.tracker.test", List: "hosts"},
	)
	for range 5 {
		l.Count("dns", false)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, Options{Log: l, Now: func() time.Time { return now }})
	for _, tc := range []struct {
		rng                string
		total, httpN, dnsN string
		bars               int
		hasOld, hasOlder   bool
		label              string
	}{
		{"1h", "8", "1", "7", 30, false, false, "1 h"},
		{"24h", "9", "2", "7", 48, true, false, "24 h"},
		{"7d", "10", "2", "8", 42, true, true, "7 days"},
		{"bogus", "9", "2", "7", 48, true, false, "24 h"},
	} {
		body := get(t, s, "/?range="+tc.rng)
		if !strings.Contains(body, "Requests · "+tc.label+`</div><div class="v">`+tc.total+"</div>") {
			t.Errorf("range %s: total is not %s", tc.rng, tc.total)
		}
		if !strings.Contains(body, `HTTP requests</div><div class="v sm">`+tc.httpN+"</div>") ||
			!strings.Contains(body, `DNS queries</div><div class="v sm">`+tc.dnsN+"</div>") {
			t.Errorf("range %s: want %s HTTP requests and %s DNS queries", tc.rng, tc.httpN, tc.dnsN)
		}
		if n := strings.Count(body, `<g class="b">`); n < tc.bars || n > tc.bars+1 {
			t.Errorf("range %s: %d bars, want %d", tc.rng, n, tc.bars)
		}
		trackers := section(t, body, "Top trackers")
		if strings.Contains(trackers, "old.tracker.test") != tc.hasOld || strings.Contains(trackers, "older.tracker.test") != tc.hasOlder {
			t.Errorf("range %s: top trackers\n%s", tc.rng, trackers)
		}
	}
	if body := get(t, s, "/?range=7d"); !strings.Contains(body, `<a href="/?range=7d" aria-current="true">7 days</a>`) ||
		!strings.Contains(body, "since=7d") {
		t.Error("the 7-day range is not marked current, or its top rows do not link the log over 7 days")
	}
}

func TestHeuristicEntriesExplainAndBlock(t *testing.T) {
	l := newLog(t)
	add(t, l,
		blocklog.Entry{Layer: "http", Kind: "heuristic", Client: "192.168.1.11", Method: "GET", Host: "px.mailer.test",
			URL: "https://px.mailer.test/o/abc123.gif", Type: "image", Source: "news.test", Response: "1x1-gif",
			Detail: "image is 1×1, loaded from another site"},
		blocklog.Entry{Layer: "http", Kind: "heuristic", Client: "192.168.1.11", Host: "open.esp.test",
			URL: "https://open.esp.test/t/a1b2c3d4e5.gif", Type: "image", Detail: "image is 43 bytes and its URL carries an identifier, loaded in a mail client"},
	)
	rec := &blockRecorder{}
	s := newServer(t, Options{Log: l, Block: rec.block})
	body := get(t, s, "/log")
	for _, want := range []string{`<span class="w why">1×1 image from another site</span>`,
		`<span class="w why">43-byte image with an identifier in its URL in a mail client</span>`,
		`<form class="blockhost" method="post" action="/block">`, `<input type="hidden" name="host" value="px.mailer.test">`} {
		if !strings.Contains(body, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(body, "Allow…") {
		t.Error("allow forms shown without Options.Allow")
	}
	token := csrfOf(t, body)

	resp, _ := do(t, s, request{method: "POST", target: "/block", form: url.Values{"csrf": {token}, "host": {"PX.Mailer.test."}, "back": {"/log"}}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/log" {
		t.Fatalf("block: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if got := rec.actions(); len(got) != 1 || got[0] != (BlockAction{Host: "px.mailer.test"}) {
		t.Fatalf("Block got %+v", got)
	}
	if body := get(t, s, "/log", cookie(resp, flashCookie)); !strings.Contains(body, "blocked px.mailer.test and its subdomains") {
		t.Error("no flash after blocking")
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
		want   int
	}{
		{"no token", url.Values{"host": {"a.test"}}, nil, http.StatusForbidden},
		{"foreign origin", url.Values{"csrf": {token}, "host": {"a.test"}}, map[string]string{"Origin": "http://evil.test"}, http.StatusForbidden},
		{"bad host", url.Values{"csrf": {token}, "host": {"a.test/x"}}, nil, http.StatusBadRequest},
		{"no dot", url.Values{"csrf": {token}, "host": {"com"}}, nil, http.StatusBadRequest},
	} {
		resp, body := do(t, s, request{method: "POST", target: "/block", form: tc.form, header: tc.header})
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d\n%s", tc.name, resp.Status, tc.want, body)
		}
	}
	if n := len(rec.actions()); n != 1 {
		t.Errorf("Block called %d times, want once", n)
	}
	rec.err = errors.New("deny list is read-only")
	resp, _ = do(t, s, request{method: "POST", target: "/block", form: url.Values{"csrf": {token}, "host": {"b.test"}}})
	if body := get(t, s, "/log", cookie(resp, flashCookie)); !strings.Contains(body, "deny list is read-only") {
		t.Error("a failed block shows no error")
	}

	// Without Options.Block: no form, and the endpoint is not there.
	s = newServer(t, Options{Log: l})
	body = get(t, s, "/log")
	if strings.Contains(body, `action="/block"`) {
		t.Error("block form shown without Options.Block")
	}
	if resp, _ := do(t, s, request{method: "POST", target: "/block", form: url.Values{"csrf": {csrfOf(t, get(t, newServer(t, Options{Log: l, Allow: func(AllowAction) error { return nil }}), "/log"))}, "host": {"a.test"}}}); resp.StatusCode == http.StatusSeeOther {
		t.Error("POST /block without Options.Block redirected as if it worked")
	}
}

func TestConnectRetriesShownOnce(t *testing.T) {
	l := newLog(t)
	now := time.Now()
	var entries []blocklog.Entry
	for i := range 5 {
		entries = append(entries, blocklog.Entry{Time: now.Add(-time.Duration(i) * 300 * time.Millisecond), Layer: "http", Kind: "connect-refused",
			Client: "192.168.1.10", Host: "pixel.tracker.test", Method: "CONNECT", Rule: "||tracker.test^", List: "easyprivacy", Detail: "try " + string(rune('a'+i))})
	}
	entries = append(entries, blocklog.Entry{Time: now.Add(-5 * time.Second), Layer: "http", Kind: "connect-refused",
		Client: "192.168.1.20", Host: "pixel.tracker.test", Rule: "||tracker.test^", List: "easyprivacy"})
	add(t, l, entries...)
	body := get(t, newServer(t, Options{Log: l}), "/log")
	if n := rows(body); n != 2 {
		t.Errorf("%d rows for 5 retries from one client and one from another, want 2", n)
	}
	if !strings.Contains(body, "×5</small>") {
		t.Error("the folded row does not say ×5")
	}
}

// The configuration's warnings (an open proxy, say) head the overview.
func TestOverviewWarnings(t *testing.T) {
	const warn = "http.allow_clients has 0.0.0.0/0: the proxy on 0.0.0.0:8080 serves every address that reaches it"
	if body := get(t, newServer(t, Options{Warnings: []string{warn}}), "/"); !strings.Contains(body, warn) {
		t.Error("the overview does not show the configuration's warning")
	}
	if body := get(t, newServer(t, Options{}), "/"); strings.Contains(body, "serves every address") {
		t.Error("a warning shows without one")
	}
}

// The overview's top clients name the clients that have a name.
func TestOverviewTopClientsNamed(t *testing.T) {
	l := newLog(t)
	add(t, l, sample()...)
	s := newServer(t, Options{Log: l, ClientName: func(a netip.Addr) string {
		if a.String() == "192.168.1.10" {
			return "tablet"
		}
		return ""
	}})
	if body := get(t, s, "/"); !strings.Contains(body, "tablet (192.168.1.10)") {
		t.Error("the top clients do not name 192.168.1.10 as tablet")
	}
	if body := get(t, newServer(t, Options{Log: l}), "/"); strings.Contains(body, "tablet (") {
		t.Error("a client is named without a name source")
	}
}
