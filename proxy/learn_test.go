package proxy

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/certs"
)

// pixelOrigin is an ESP's open-tracking host: 1×1 GIFs at /o/<id>, an
// ordinary logo at /img/logo.png. It counts the requests it sees by path
// prefix.
type pixelOrigin struct {
	mu   sync.Mutex
	hits map[string]int
}

func (o *pixelOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	prefix, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	o.mu.Lock()
	o.hits[prefix]++
	o.mu.Unlock()
	switch prefix {
	case "o":
		w.Header().Set("Content-Type", "image/gif")
		w.Write(originGIF)
	case "img":
		w.Header().Set("Content-Type", "image/png")
		w.Write(originPNG)
	default:
		http.NotFound(w, r)
	}
}

func (o *pixelOrigin) count(prefix string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[prefix]
}

// TestLearnedRuleBlocksBeforeContact: three open pixels of one sender,
// each with a fresh identifier, reach the tracker and are caught by the
// heuristic; from the fourth on a learned rule blocks them before contact,
// until the rule is unlearned or the host allowed.
func TestLearnedRuleBlocksBeforeContact(t *testing.T) {
	var w *world
	learner, err := blocklist.NewLearner(blocklist.LearnerOptions{Path: t.TempDir() + "/learned.json",
		OnChange: func(m *blocklist.Matcher) { w.lists.SetLearned(m) }})
	if err != nil {
		t.Fatal(err)
	}
	w = newWorld(t, worldOptions{tweak: func(o *Options) { o.Learner = learner }})
	esp := &pixelOrigin{hits: map[string]int{}}
	l := listen(t)
	serveForTest(t, esp, tls.NewListener(l, certs.NewSigner(w.originCA, certs.SignerOptions{}).TLSConfig("origin.test")))
	const host = "t.news.brand.example"
	base := "https://" + host + ":" + port(l)
	c := w.client(nil)
	pixel := func(id string) []byte {
		t.Helper()
		resp, body := w.get(c, base+"/o/"+id, "Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "cross-site",
			"Referer", "https://webmail.example/inbox")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /o/%s: status %d", id, resp.StatusCode)
		}
		return body
	}

	for i, id := range []string{"5f2b9c1e7a", "c81d4e0a93", "0b7e6d5c4a"} {
		if body := pixel(id); !bytes.Equal(body, transparentGIF) {
			t.Fatalf("pixel %d: not replaced by the heuristic", i+1)
		}
		if n := esp.count("o"); n != i+1 {
			t.Fatalf("after pixel %d the tracker saw %d requests, want %d", i+1, n, i+1)
		}
	}
	wantRule := "||" + host + ":" + port(l) + "/o/*$image"
	learned := w.eventsOf(KindLearned)
	if len(learned) != 1 || learned[0].Rule != wantRule || learned[0].List != blocklist.LearnedListName || learned[0].Host != host {
		t.Fatalf("learned events = %+v, want one with rule %q, list %q", learned, wantRule, blocklist.LearnedListName)
	}
	heur := w.eventsOf(KindHeuristic)
	if len(heur) != 3 || !strings.Contains(heur[2].Detail, "learned rule "+wantRule) || strings.Contains(heur[1].Detail, "learned") {
		t.Errorf("heuristic events: want the third (only) to name the learned rule: %+v", heur)
	}

	// The fourth, with a fresh identifier, never reaches the tracker.
	if body := pixel("9a8b7c6d5e"); !bytes.Equal(body, transparentGIF) {
		t.Error("pixel 4: not answered with our GIF")
	}
	if n := esp.count("o"); n != 3 {
		t.Errorf("the tracker saw pixel 4: %d requests, want 3", n)
	}
	blocked := w.eventsOf(KindBlocked)
	if len(blocked) != 1 || blocked[0].Rule != wantRule || blocked[0].List != blocklist.LearnedListName || blocked[0].Detail == "" {
		t.Fatalf("blocked events = %+v, want one by %q from list %q, explained", blocked, wantRule, blocklist.LearnedListName)
	}
	if rs := learner.Rules(); len(rs) != 1 || rs[0].Hits != 1 {
		t.Errorf("learner rules = %+v, want one with 1 hit", rs)
	}

	// The host's ordinary images still load.
	if _, body := w.get(c, base+"/img/logo.png", "Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "cross-site"); !bytes.Equal(body, originPNG) || esp.count("img") != 1 {
		t.Error("the host's logo did not load: the learned rule is too wide")
	}

	// An allow wins over the learned rule.
	if err := w.lists.Allow(blocklist.Override{Host: host}); err != nil {
		t.Fatal(err)
	}
	pixel("1122334455aa")
	if n := esp.count("o"); n != 4 {
		t.Errorf("with the host allowed the tracker saw %d requests, want 4", n)
	}
	if _, err := w.lists.Unallow(host, "", netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	pixel("2233445566cc")
	if n := esp.count("o"); n != 4 {
		t.Errorf("after the allow ended the tracker saw %d requests, want 4", n)
	}

	// After Unlearn the pixels reach the tracker again (and the heuristic
	// catches them).
	if err := learner.Unlearn(wantRule); err != nil {
		t.Fatal(err)
	}
	if body := pixel("66778899bb"); !bytes.Equal(body, transparentGIF) {
		t.Error("pixel after unlearn: not caught by the heuristic")
	}
	if n := esp.count("o"); n != 5 {
		t.Errorf("after Unlearn the tracker saw %d requests, want 5", n)
	}
}

// TestNothingLearnedUnderException: a list exception for a host lets its
// pixels through the lists, and the heuristic's catches there teach nothing.
func TestNothingLearnedUnderException(t *testing.T) {
	var w *world
	learner, err := blocklist.NewLearner(blocklist.LearnerOptions{OnChange: func(m *blocklist.Matcher) { w.lists.SetLearned(m) }})
	if err != nil {
		t.Fatal(err)
	}
	w = newWorld(t, worldOptions{rules: "||excepted.example^$image\n@@||excepted.example^$image\n", tweak: func(o *Options) { o.Learner = learner }})
	c := w.client(nil)
	for _, id := range []string{"5f2b9c1e7a", "c81d4e0a93", "0b7e6d5c4a", "9a8b7c6d5e"} {
		w.get(c, w.httpsURL("excepted.example", "/o/"+id+".gif"), "Sec-Fetch-Dest", "image", "Sec-Fetch-Site", "cross-site")
	}
	if n := len(w.eventsOf(KindHeuristic)); n != 4 {
		t.Fatalf("%d heuristic events, want 4 (the test's pixels must be caught)", n)
	}
	if rs := learner.Rules(); len(rs) != 0 || len(w.eventsOf(KindLearned)) != 0 {
		t.Errorf("learned %+v for a host a list exception covers", rs)
	}
}
