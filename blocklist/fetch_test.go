package blocklist

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// listServer serves one list over HTTP on loopback, with ETags, and can be
// told to misbehave.
type listServer struct {
	mu      sync.Mutex
	body    []byte
	etag    string
	mode    string // "", "fail", "truncate", "html", "gzip-file", "gzip-encoding"
	gets    int
	got304s int
	url     string
}

func (ls *listServer) set(f func(*listServer)) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	f(ls)
}

func (ls *listServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.gets++
	switch ls.mode {
	case "fail":
		http.Error(w, "upstream on fire", http.StatusServiceUnavailable)
		return
	case "html":
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<!DOCTYPE html><html><body>Site under maintenance</body></html>"))
		return
	case "truncate":
		w.Write(ls.body[:len(ls.body)/5])
		return
	}
	if r.Header.Get("If-None-Match") == ls.etag {
		ls.got304s++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", ls.etag)
	switch ls.mode {
	case "gzip-file":
		var b bytes.Buffer
		gz := gzip.NewWriter(&b)
		gz.Write(ls.body)
		gz.Close()
		w.Write(b.Bytes())
	case "gzip-encoding":
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			http.Error(w, "want gzip", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		gz.Write(ls.body)
		gz.Close()
	default:
		w.Write(ls.body)
	}
}

func startListServer(t *testing.T, body []byte) *listServer {
	t.Helper()
	ls := &listServer{body: body, etag: `"v1"`}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ls}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	ls.url = "http://" + l.Addr().String() + "/easyprivacy.txt"
	return ls
}

func TestFetch(t *testing.T) {
	body, err := os.ReadFile(sharedData(t, "easyprivacy.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ls := startListServer(t, body)
	f := &Fetcher{Dir: t.TempDir(), Backoff: func(int) time.Duration { return time.Millisecond }}
	ctx := context.Background()
	fetch := func() FetchResult { return f.Fetch(ctx, "easyprivacy", ls.url, FormatAuto) }
	cached := func() []byte {
		b, err := os.ReadFile(f.Path("easyprivacy"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// First download.
	r := fetch()
	if r.Status != FetchUpdated || r.Err != nil || !bytes.Equal(cached(), body) || r.Meta.Rules < 50000 || r.Meta.Expires != 4*24*time.Hour {
		t.Fatalf("first fetch: %s %v, %d rules, expires %v", r.Status, r.Err, r.Meta.Rules, r.Meta.Expires)
	}
	if fi, _ := os.Stat(f.Path("easyprivacy")); fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("cache file mode %v, want private", fi.Mode().Perm())
	}
	// Refresh: a conditional GET answered 304.
	if r := fetch(); r.Status != FetchNotModified || ls.got304s != 1 {
		t.Errorf("refresh: %s, server sent %d 304s", r.Status, ls.got304s)
	}
	// Failures keep the last good copy and say so.
	for _, tc := range []struct {
		mode string
		want error
	}{
		{"fail", nil}, {"truncate", ErrShrunk}, {"html", ErrHTMLPage},
	} {
		ls.set(func(ls *listServer) { ls.mode, ls.etag = tc.mode, `"v2"` })
		r := fetch()
		if r.Status != FetchKept || r.Err == nil || tc.want != nil && !errors.Is(r.Err, tc.want) {
			t.Errorf("%s: %s %v, want kept with %v", tc.mode, r.Status, r.Err, tc.want)
		}
		if !bytes.Equal(cached(), body) {
			t.Errorf("%s: the last good copy was replaced", tc.mode)
		}
		if m, _ := f.Meta("easyprivacy"); m.LastError == "" || m.Rules < 50000 {
			t.Errorf("%s: meta %+v should keep the rules and record the error", tc.mode, m)
		}
	}
	// A failing server is retried before giving up.
	ls.set(func(ls *listServer) { ls.mode, ls.gets = "fail", 0 })
	fetch()
	if ls.gets != 3 {
		t.Errorf("failing server asked %d times, want 3 (1 + 2 retries)", ls.gets)
	}
	// Oversized: cut off at the limit, last good copy kept.
	small := &Fetcher{Dir: f.Dir, MaxBytes: 100_000}
	ls.set(func(ls *listServer) { ls.mode = "" })
	if r := small.Fetch(ctx, "easyprivacy", ls.url, FormatAuto); r.Status != FetchKept || !errors.Is(r.Err, ErrTooBig) {
		t.Errorf("oversized: %s %v", r.Status, r.Err)
	}
	// Gzip, both as a .gz file and as Content-Encoding, is unpacked.
	for _, mode := range []string{"gzip-file", "gzip-encoding"} {
		ls.set(func(ls *listServer) { ls.mode, ls.etag = mode, `"`+mode+`"` })
		g := &Fetcher{Dir: t.TempDir()}
		if r := g.Fetch(ctx, "ep", ls.url, FormatAuto); r.Status != FetchUpdated {
			t.Errorf("%s: %s %v", mode, r.Status, r.Err)
		} else if b, _ := os.ReadFile(g.Path("ep")); !bytes.Equal(b, body) {
			t.Errorf("%s: stored %d bytes, want the %d-byte list", mode, len(b), len(body))
		}
	}
}

// TestSwapUnderConcurrentMatching swaps compiled matchers while other
// goroutines match: under -race this shows a Matcher is immutable and a
// request sees the old or the new one, never a half-built one.
func TestSwapUnderConcurrentMatching(t *testing.T) {
	lists := []string{"||a.test^\n", "||a.test^\n||b.test^\n@@||ok.a.test^\n"}
	var current atomic.Pointer[Matcher]
	current.Store(Compile(Source{Name: "v0", Text: lists[0]}))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Int32
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var req Request
			for {
				select {
				case <-stop:
					return
				default:
				}
				m := current.Load()
				req.Reset("https://x.b.test/p.gif", "https://site.test/", TypeImage)
				d := m.Match(&req)
				v := m.Lists()[0].Name
				// v0 passes b.test, v1 blocks it: anything else is a torn matcher.
				if (v == "v0") != (d.Action == Pass) {
					bad.Add(1)
				}
			}
		}()
	}
	for i := range 200 {
		current.Store(Compile(Source{Name: "v" + string(rune('0'+i%2)), Text: lists[i%2]}))
	}
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d decisions disagreed with the matcher that made them", bad.Load())
	}
}

// A negative Retries means one attempt, not none (which left no response
// to read).
func TestFetchNoRetries(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f := &Fetcher{Dir: t.TempDir(), Retries: -1}
	if r := f.Fetch(context.Background(), "l", srv.URL, FormatAdblock); r.Err == nil || r.Status != FetchKept {
		t.Errorf("Fetch = %+v, want a failure keeping the last copy", r)
	}
	if calls != 1 {
		t.Errorf("%d requests, want 1", calls)
	}
}
