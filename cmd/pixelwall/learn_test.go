package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// TestListsShowLearned: `lists show` reports the rules learned from the
// heuristic as the list "learned", unless http.learn is false.
func TestListsShowLearned(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	l, err := blocklist.NewLearner(blocklist.LearnerOptions{Path: learnedPath(data)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, id := range []string{"a1b2c3d4e5", "f6a7b8c9d0", "0f9e8d7c6b"} {
		l.Observe("t.news.brand.example", "https://t.news.brand.example/o/"+id, blocklist.TypeImage, now)
	}
	if len(l.Rules()) != 1 {
		t.Fatalf("learner rules = %+v, want one", l.Rules())
	}

	on := writeFile(t, "on.yaml", "lists: []\n")
	code, out, errOut := runCmd(t, "", "lists", "-config", on, "-data", data, "show")
	if code != 0 {
		t.Fatalf("lists show: exit %d: %s", code, errOut)
	}
	i := strings.Index(out, "learned  (learned from the pixel heuristic")
	if i < 0 || !strings.Contains(out[i:], "rules: 1  (1 blocking)") {
		t.Errorf("lists show does not report the learned list with 1 rule:\n%s", out)
	}

	// check says what the proxy does with the learned rule.
	fresh := "https://t.news.brand.example/o/9a8b7c6d5e"
	code, out, errOut = runCmd(t, "", "check", "-config", on, "-data", data, "-type", "image", fresh)
	if code != 0 || !strings.Contains(out, `"decision":"block"`) || !strings.Contains(out, `"list":"learned"`) {
		t.Errorf("check %s: exit %d, want a block by the learned list:\n%s%s", fresh, code, out, errOut)
	}

	off := writeFile(t, "off.yaml", "lists: []\nhttp:\n  learn: false\n")
	code, out, errOut = runCmd(t, "", "lists", "-config", off, "-data", data, "show")
	if code != 0 || strings.Contains(out, "learned") {
		t.Errorf("with http.learn false: exit %d, output:\n%s%s", code, out, errOut)
	}
	if code, out, _ = runCmd(t, "", "check", "-config", off, "-data", data, "-type", "image", fresh); code != 0 || !strings.Contains(out, `"decision":"pass"`) {
		t.Errorf("check with http.learn false: exit %d, want pass:\n%s", code, out)
	}
}
