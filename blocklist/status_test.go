package blocklist

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestListStateText(t *testing.T) {
	for s := StateOK; s <= StateNeverDownloaded; s++ {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back ListState
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, back, err, s)
		}
	}
	var s ListState
	if err := s.UnmarshalText([]byte("fine")); err == nil || !strings.Contains(err.Error(), "never-downloaded") {
		t.Errorf("UnmarshalText(fine) = %v, want an error listing the states", err)
	}
}

// TestURLListStatus fetches from a real server that works, then sends an
// HTML page, then fails, and from an address nothing listens on, and reads
// each list's status from what the Fetcher remembered.
func TestURLListStatus(t *testing.T) {
	ls := startListServer(t, []byte("||tracker.test^\n||pixel.test^\n"))
	f := &Fetcher{Dir: t.TempDir(), Backoff: func(int) time.Duration { return time.Millisecond }, Retries: 1}
	ctx := context.Background()
	now := time.Now()
	status := func(name, url string, staleAfter time.Duration) ListStatus {
		meta, ok := f.Meta(name)
		return URLListStatus(name, url, meta, ok, staleAfter, now)
	}

	if s := status("good", ls.url, 0); s.State != StateNeverDownloaded {
		t.Errorf("before any fetch: %v %q, want never-downloaded", s.State, s.Reason)
	}
	if r := f.Fetch(ctx, "good", ls.url, FormatAdblock); r.Err != nil {
		t.Fatal(r.Err)
	}
	s := status("good", ls.url, time.Hour)
	if s.State != StateOK || s.Reason != "" || s.Rules != 2 || s.LastSuccess.IsZero() || s.Failures != 0 {
		t.Errorf("after a good fetch: %+v, want ok with 2 rules", s)
	}
	if s := URLListStatus("good", ls.url, mustMeta(t, f, "good"), true, time.Hour, now.Add(2*time.Hour)); s.State != StateStale ||
		!strings.Contains(s.Reason, "not refreshed since") {
		t.Errorf("two hours later: %v %q, want stale", s.State, s.Reason)
	}

	ls.set(func(ls *listServer) { ls.mode = "html" })
	f.MarkDue("good")
	f.Fetch(ctx, "good", ls.url, FormatAdblock)
	s = status("good", ls.url, time.Hour)
	if s.State != StateFailed || !strings.Contains(s.Reason, ErrHTMLPage.Error()) || !strings.Contains(s.Reason, "stays in use") ||
		s.Rules != 2 || s.Failures != 1 || s.LastFailure.IsZero() {
		t.Errorf("after an HTML page: %+v, want failed, the HTML reason, the old copy's 2 rules", s)
	}
	ls.set(func(ls *listServer) { ls.mode = "fail" })
	f.Fetch(ctx, "good", ls.url, FormatAdblock)
	if s := status("good", ls.url, time.Hour); s.State != StateFailed || s.Failures != 2 || !strings.Contains(s.Reason, "503") {
		t.Errorf("after a 503: %+v, want failed twice, naming the 503", s)
	}
	ls.set(func(ls *listServer) { ls.mode = "" })
	f.Fetch(ctx, "good", ls.url, FormatAdblock)
	if s := status("good", ls.url, time.Hour); s.State != StateOK || s.Failures != 0 {
		t.Errorf("after recovering: %+v, want ok", s)
	}

	// A server nobody runs: failed, with no copy.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/list.txt"
	l.Close()
	f.Fetch(ctx, "dead", dead, FormatAdblock)
	if s := status("dead", dead, time.Hour); s.State != StateFailed || !strings.Contains(s.Reason, "no copy yet") || !strings.Contains(s.Reason, "refused") {
		t.Errorf("unreachable list: %v %q, want failed, refused, no copy", s.State, s.Reason)
	}
}

func mustMeta(t *testing.T, f *Fetcher, name string) FetchMeta {
	t.Helper()
	m, ok := f.Meta(name)
	if !ok {
		t.Fatalf("no metadata for %s", name)
	}
	return m
}

func TestFileListStatus(t *testing.T) {
	now := time.Now()
	missing := filepath.Join(t.TempDir(), "mine.txt")
	_, err := os.Open(missing)
	if s := FileListStatus("mine", missing, err, now); s.State != StateMissing || !strings.Contains(s.Reason, missing) {
		t.Errorf("missing file: %v %q", s.State, s.Reason)
	}
	if s := FileListStatus("mine", missing, errors.New("permission denied"), now); s.State != StateFailed || s.Reason != "permission denied" {
		t.Errorf("unreadable file: %v %q", s.State, s.Reason)
	}
	s := FileListStatus("mine", missing, nil, now)
	s.SetStats(Compile(Source{Name: "mine", Format: FormatAdblock, Text: "||a.test^\n||b.test^\n[bad\n"}).Lists()[0])
	if s.State != StateOK || s.Rules != 2 || s.Format != "adblock" {
		t.Errorf("loaded file: %+v", s)
	}
}
