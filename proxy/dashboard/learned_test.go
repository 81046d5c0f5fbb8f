package dashboard

import (
	"errors"
	"html"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// learnedRecorder holds learned rules and records unlearns.
type learnedRecorder struct {
	mu    sync.Mutex
	rules []LearnedRule
	asked []string
}

func (l *learnedRecorder) learned() []LearnedRule {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LearnedRule(nil), l.rules...)
}

func (l *learnedRecorder) unlearn(rule string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, rule)
	for i, r := range l.rules {
		if r.Rule == rule {
			l.rules = append(l.rules[:i], l.rules[i+1:]...)
			return nil
		}
	}
	return errors.New("no learned rule " + rule)
}

func TestUnlearn(t *testing.T) {
	const rule = "||t.news.brand.example/o/*$image"
	now := time.Now()
	rec := &learnedRecorder{rules: []LearnedRule{{Rule: rule, Host: "t.news.brand.example", Learned: now.Add(-2 * time.Hour),
		LastUsed: now.Add(-5 * time.Minute), Hits: 1234, Example: "https://t.news.brand.example/o/a1b2c3d4e5"}}}
	l := newLog(t)
	add(t, l, blocklog.Entry{Layer: "http", Kind: "learned", Host: "t.news.brand.example", URL: "https://t.news.brand.example/o/a1b2c3d4e5",
		Type: "image", Rule: rule, List: "learned", Detail: "tiny images of this host and path shape were caught again and again; learned rule " + rule})
	s := newServer(t, Options{Log: l, Learned: rec.learned, Unlearn: rec.unlearn})

	body := get(t, s, "/lists")
	learned := section(t, body, "Learned rules")
	for _, want := range []string{rule, "https://t.news.brand.example/o/a1b2c3d4e5", "1,234", "2 h ago", "5 min ago"} {
		if !strings.Contains(learned, html.EscapeString(want)) {
			t.Errorf("learned rules section lacks %q:\n%s", want, learned)
		}
	}
	if !strings.Contains(learned, `action="/unlearn"`) {
		t.Error("no unlearn form")
	}
	if logBody := get(t, s, "/log?kind=learned"); !strings.Contains(logBody, "were caught again and again; learned rule") {
		t.Error("the log's learned entry does not explain itself")
	}
	token := csrfOf(t, body)

	// Refused without the token or from another origin.
	for name, req := range map[string]request{
		"no token":       {method: "POST", target: "/unlearn", form: url.Values{"rule": {rule}}},
		"foreign origin": {method: "POST", target: "/unlearn", form: url.Values{"csrf": {token}, "rule": {rule}}, header: map[string]string{"Origin": "http://evil.test"}},
	} {
		if resp, _ := do(t, s, req); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %s, want 403", name, resp.Status)
		}
	}
	if len(rec.asked) != 0 {
		t.Fatalf("Unlearn called by refused requests: %v", rec.asked)
	}

	resp, _ := do(t, s, request{method: "POST", target: "/unlearn", form: url.Values{"csrf": {token}, "rule": {rule}}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/lists" {
		t.Fatalf("unlearn: %s to %q, want 303 to /lists", resp.Status, resp.Header.Get("Location"))
	}
	if len(rec.asked) != 1 || rec.asked[0] != rule {
		t.Fatalf("Unlearn got %v, want [%q]", rec.asked, rule)
	}
	body = get(t, s, "/lists", cookie(resp, flashCookie))
	if !strings.Contains(body, "unlearned "+html.EscapeString(rule)) {
		t.Error("no flash after unlearning")
	}
	if strings.Contains(section(t, body, "Learned rules"), `action="/unlearn"`) {
		t.Error("the unlearned rule is still listed")
	}

	// A rule the learner does not know: the flash says so.
	resp, _ = do(t, s, request{method: "POST", target: "/unlearn", form: url.Values{"csrf": {token}, "rule": {rule}}})
	if body := get(t, s, "/lists", cookie(resp, flashCookie)); !strings.Contains(body, `class="flash error"`) {
		t.Error("a failed unlearn shows no error")
	}

	// Without Unlearn: no form, and the action is not there.
	s = newServer(t, Options{Log: l, Learned: rec.learned})
	rec.rules = []LearnedRule{{Rule: rule, Host: "t.news.brand.example", Learned: now, LastUsed: now}}
	if body := get(t, s, "/lists"); !strings.Contains(body, html.EscapeString(rule)) || strings.Contains(body, `action="/unlearn"`) {
		t.Error("without Options.Unlearn: want the rule listed without an unlearn form")
	}
	if resp, _ := do(t, s, request{method: "POST", target: "/unlearn", form: url.Values{"csrf": {token}, "rule": {rule}}}); resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /unlearn without Options.Unlearn: %s", resp.Status)
	}
}
