package blocklog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// crashEnv names the database TestCrashChild writes; unset, it is skipped.
const crashEnv = "PIXELWALL_BLOCKLOG_CRASH_DB"

// TestCrashChild is the process TestCrash kills: it Adds entries at a
// steady rate and reports, every 50 ms, the time, how many it has Added
// (less those dropped) and how many the writer has stored.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrash")
	}
	l, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	report := time.NewTicker(50 * time.Millisecond)
	defer report.Stop()
	deadline := time.Now().Add(30 * time.Second) // in case the parent is gone
	var added uint64
	for time.Now().Before(deadline) {
		// About 1,000 entries a second: well within the writer's pace,
		// even under the race detector, so the loss bound is the flush
		// interval's and not a backlog's.
		added++
		l.Add(Entry{Layer: LayerHTTP, Kind: "blocked", Client: "192.0.2.1", Host: "crash.test",
			URL: fmt.Sprintf("https://crash.test/p/%d?uid=%d", added, added), Rule: "||crash.test^", List: "test"})
		time.Sleep(time.Millisecond)
		select {
		case <-report.C:
			fmt.Printf("crash-report %d %d %d\n", time.Now().UnixNano(), added-l.Dropped(), l.stored.Load())
		default:
		}
	}
	t.Error("not killed within 30s")
}

// TestCrash kills a process that writes the log with SIGKILL and checks
// that the file opens intact and holds everything Added until a second
// before the kill.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := filepath.Join(t.TempDir(), "blocks.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	type report struct {
		at            time.Time
		added, stored int64
	}
	var (
		mu      sync.Mutex
		reports []report
		first   = make(chan struct{})
		scanned = make(chan struct{})
	)
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var nanos, added, stored int64
			if _, err := fmt.Sscanf(sc.Text(), "crash-report %d %d %d", &nanos, &added, &stored); err != nil {
				continue
			}
			mu.Lock()
			reports = append(reports, report{time.Unix(0, nanos), added, stored})
			if len(reports) == 1 {
				close(first)
			}
			mu.Unlock()
		}
	}()

	select {
	case <-first:
	case <-scanned:
		cmd.Wait()
		t.Fatalf("child ended without reporting; stderr:\n%s", stderr.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not report within 30s; stderr:\n%s", stderr.String())
	}
	time.Sleep(1500 * time.Millisecond)
	killedAt := time.Now()
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-scanned
	cmd.Wait() // "signal: killed"

	// What the child had Added a second before the kill, and the most
	// it reported stored at any time.
	var want, stored int64
	mu.Lock()
	for _, r := range reports {
		if !r.at.After(killedAt.Add(-time.Second)) {
			want = r.added
		}
		stored = max(stored, r.stored)
	}
	n := len(reports)
	mu.Unlock()
	if want == 0 {
		t.Fatalf("no report from a second before the kill among %d", n)
	}

	l, err := Open(Options{Path: path})
	if err != nil {
		t.Fatalf("reopening after the kill: %v", err)
	}
	defer l.Close()
	var check string
	if err := l.r.QueryRowContext(context.Background(), "PRAGMA integrity_check").Scan(&check); err != nil {
		t.Fatal(err)
	}
	if check != "ok" {
		t.Errorf("integrity_check = %q", check)
	}
	got := countDecisions(t, l)
	t.Logf("%d entries in the file; %d Added a second before the kill; %d reported stored", got, want, stored)
	if got < want {
		t.Errorf("%d entries survived, want at least the %d Added a second before the kill", got, want)
	}
	if got < stored {
		t.Errorf("%d entries survived, want at least the %d reported stored", got, stored)
	}
}
