package blocklist

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readListFile is ReadListFile with a deadline: a FIFO must be refused,
// not waited on.
func readListFile(t *testing.T, name, path string, max int64) (Source, error) {
	t.Helper()
	type result struct {
		src Source
		err error
	}
	done := make(chan result, 1)
	go func() {
		src, err := ReadListFile(name, FormatAuto, path, max)
		done <- result{src, err}
	}()
	select {
	case r := <-done:
		return r.src, r.err
	case <-time.After(5 * time.Second):
		t.Fatalf("ReadListFile(%s) still reading after 5 s", path)
		return Source{}, nil
	}
}

func TestReadListFileRejectsNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "list.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("Mkfifo: %v", err)
	}
	cases := []struct{ path, kind string }{
		{fifo, "a FIFO"},
		{dir, "a directory"},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		cases = append(cases, struct{ path, kind string }{"/dev/zero", "a character device"})
	}
	for _, c := range cases {
		_, err := readListFile(t, "mine", c.path, 0)
		if err == nil || !strings.Contains(err.Error(), "list mine") || !strings.Contains(err.Error(), c.kind) ||
			!strings.Contains(err.Error(), c.path) {
			t.Errorf("ReadListFile(%s) error = %v, want one naming the list, the path and %s", c.path, err, c.kind)
		}
	}
	// A symlink to a regular file is read; to a FIFO it is refused.
	real := filepath.Join(dir, "real.txt")
	os.WriteFile(real, []byte("||tracker.example^\n"), 0o600)
	for target, ok := range map[string]bool{real: true, fifo: false} {
		link := filepath.Join(dir, "link-"+filepath.Base(target))
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if _, err := readListFile(t, "mine", link, 0); (err == nil) != ok {
			t.Errorf("ReadListFile(link to %s) error = %v, want ok=%v", target, err, ok)
		}
	}
}

func TestReadListFileSizeCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.txt")
	text := strings.Repeat("||tracker.example^\n", 100) // 1,900 bytes
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readListFile(t, "big", path, 1000); !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "list big") {
		t.Errorf("over the cap: %v, want ErrTooBig naming the list", err)
	}
	src, err := readListFile(t, "big", path, int64(len(text)))
	if err != nil || src.Text != text || src.Name != "big" {
		t.Errorf("at the cap: %q, %v; want the whole file", src.Name, err)
	}
}

func TestReadListFileRejectsBinary(t *testing.T) {
	dir := t.TempDir()
	ok := "||tracker.example^\n"
	// A 3-byte rune cut by the KiB's end, then Latin-1 after the first KiB.
	cut := strings.Repeat("a", 1023) + "€" + "\n||x.example^\n\xe9t\xe9\n"
	for _, c := range []struct {
		name, text string
		bad        bool
	}{
		{"nul", ok + "\x00\x01\x02", true},
		{"latin1", "! Titre: liste fran\xe7aise\n" + ok, true},
		{"elf", "\x7fELF\x02\x01\x01\x00", true},
		{"utf8", "! Título: lista española ✓\n" + ok, false},
		{"cut-rune", cut, false},
		{"empty", "", false},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := readListFile(t, c.name, path, 0)
		if c.bad != errors.Is(err, ErrBinary) || c.bad && !strings.Contains(err.Error(), "list "+c.name) {
			t.Errorf("%s: error %v, want binary=%v with the list's name", c.name, err, c.bad)
		}
	}
	if _, err := ReadSource("r", FormatAuto, bytes.NewReader([]byte("a\x00b"))); !errors.Is(err, ErrBinary) {
		t.Errorf("ReadSource of binary: %v, want ErrBinary", err)
	}
}

func TestValidListName(t *testing.T) {
	for name, ok := range map[string]bool{
		"easyprivacy": true, "EasyList_2024-v1.txt": true, "a": true, "x..y": true,
		"": false, ".hidden": false, "..": false, "../../escape": false, "a/b": false, `a\b`: false,
		"with space": false, "ünïcode": false, "a\x00": false, strings.Repeat("n", 101): false,
	} {
		if err := ValidListName(name); (err == nil) != ok {
			t.Errorf("ValidListName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

// TestFetchRefusesBadNameAndBinary: a list named to escape the cache
// directory is refused before anything is fetched or written, and a binary
// download keeps the last good copy.
func TestFetchRefusesBadNameAndBinary(t *testing.T) {
	body := []byte("||tracker.example^\n||ads.example^\n")
	ls := startListServer(t, body)
	root := t.TempDir()
	f := &Fetcher{Dir: filepath.Join(root, "data", "lists"), Backoff: func(int) time.Duration { return time.Millisecond }}
	ctx := context.Background()
	if r := f.Fetch(ctx, "../../escape", ls.url, FormatAuto); r.Err == nil || r.Status != FetchKept || ls.gets != 0 {
		t.Errorf("Fetch(../../escape) = %s %v after %d GETs, want refused before any", r.Status, r.Err, ls.gets)
	}
	var files []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("files written: %v, want none", files)
	}

	if r := f.Fetch(ctx, "good", ls.url, FormatAuto); r.Status != FetchUpdated {
		t.Fatalf("Fetch(good) = %s %v", r.Status, r.Err)
	}
	ls.set(func(ls *listServer) { ls.body, ls.etag = []byte("\x1f\x00binary\xff"+string(body)), `"v2"` })
	if r := f.Fetch(ctx, "good", ls.url, FormatAuto); r.Status != FetchKept || !errors.Is(r.Err, ErrBinary) {
		t.Errorf("binary download: %s %v, want kept with ErrBinary", r.Status, r.Err)
	}
	if b, _ := os.ReadFile(f.Path("good")); !bytes.Equal(b, body) {
		t.Errorf("cached copy %q, want the last good one", b)
	}
}
