package blocklist

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestListStateText(t *testing.T) {
	for s := ListOK; s <= ListNeverFetched; s++ {
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
	if err := s.UnmarshalText([]byte("fine")); err == nil || !strings.Contains(err.Error(), "never downloaded") {
		t.Errorf("UnmarshalText(fine) = %v, want an error listing the states", err)
	}
}

// TestFetchMetaRecordsSuccessAndFailures: the metadata counts failed checks
// since the last success, for the lists' health.
func TestFetchMetaRecordsSuccessAndFailures(t *testing.T) {
	ls := startListServer(t, []byte("||tracker.test^\n||pixel.test^\n"))
	f := &Fetcher{Dir: t.TempDir(), Backoff: func(int) time.Duration { return time.Millisecond }, Retries: 1}
	ctx := context.Background()
	steps := []struct {
		mode     string
		failures int
		success  bool // LastSuccess is this check's
	}{
		{"", 0, true},
		{"html", 1, false},
		{"fail", 2, false},
		{"", 0, true},
	}
	for i, s := range steps {
		ls.set(func(ls *listServer) { ls.mode = s.mode })
		r := f.Fetch(ctx, "l", ls.url, FormatAdblock)
		m := r.Meta
		if m.Failures != s.failures || (m.LastSuccess == m.Checked) != s.success || (s.failures > 0) != (m.LastFailure == m.Checked) {
			t.Errorf("step %d (%q): failures %d, last success %v, last failure %v, checked %v; want %d failures, success %v",
				i, s.mode, m.Failures, m.LastSuccess, m.LastFailure, m.Checked, s.failures, s.success)
		}
		if saved, _ := f.Meta("l"); saved.Failures != m.Failures || !saved.LastSuccess.Equal(m.LastSuccess) {
			t.Errorf("step %d: saved metadata %+v differs from the result's %+v", i, saved, m)
		}
	}
}
