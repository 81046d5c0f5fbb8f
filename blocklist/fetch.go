package blocklist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Fetcher keeps downloaded lists in a cache directory. A download that
// fails, looks like an HTML error page, or lost more than half its rules
// leaves the last good copy in place. Safe for concurrent use on different
// list names.
type Fetcher struct {
	// Dir holds <name>.txt and <name>.meta.json for every list.
	Dir string
	// Client makes the requests; default: 30 s timeout, gzip, no proxy
	// from the environment.
	Client *http.Client
	// MaxBytes is the largest list accepted (after decompression); default
	// MaxListBytes.
	MaxBytes int64
	// Retries after a failed attempt (network error or 5xx); default 2,
	// negative for none.
	Retries int
	// Backoff is the wait before retry n (1, 2, …); default 2^n seconds.
	Backoff func(n int) time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// FetchMeta is what the cache remembers about a list.
type FetchMeta struct {
	URL          string    `json:"url"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	Updated      time.Time `json:"updated"` // when the cached copy was last replaced
	Checked      time.Time `json:"checked"` // when the server was last asked
	LastError    string    `json:"last_error,omitempty"`
	Bytes        int64     `json:"bytes"`
	Rules        int       `json:"rules"`
	BadLines     int       `json:"bad_lines"`
	// LastSuccess and LastFailure are the last checks that succeeded and
	// failed; Failures counts the failed checks since the last success.
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	Failures    int       `json:"failures,omitempty"`
	// Expires is the list's own "! Expires:" hint, when it has one.
	Expires time.Duration `json:"expires,omitempty"`
}

// FetchStatus says how a fetch ended.
type FetchStatus string

const (
	FetchUpdated     FetchStatus = "updated"      // a new copy was stored
	FetchNotModified FetchStatus = "not-modified" // the server said 304, or the same bytes came back
	FetchKept        FetchStatus = "kept"         // failed or rejected: the last good copy stays
)

// FetchResult reports one fetch.
type FetchResult struct {
	Name   string
	Status FetchStatus
	Err    error // why a fetch was rejected or failed
	Meta   FetchMeta
	Took   time.Duration
}

func (f *Fetcher) defaults() {
	if f.Client == nil {
		f.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 20 * time.Second}}
	}
	if f.MaxBytes == 0 {
		f.MaxBytes = MaxListBytes
	}
	if f.Retries == 0 {
		f.Retries = 2
	}
	if f.Backoff == nil {
		f.Backoff = func(n int) time.Duration { return time.Duration(1<<n) * time.Second }
	}
	if f.Now == nil {
		f.Now = time.Now
	}
}

// Path is where the cached copy of a list lives.
func (f *Fetcher) Path(name string) string { return filepath.Join(f.Dir, name+".txt") }

func (f *Fetcher) metaPath(name string) string { return filepath.Join(f.Dir, name+".meta.json") }

// Meta reads what the cache remembers about a list; ok is false when the
// list was never downloaded.
func (f *Fetcher) Meta(name string) (FetchMeta, bool) {
	var m FetchMeta
	b, err := os.ReadFile(f.metaPath(name))
	if err != nil || json.Unmarshal(b, &m) != nil {
		return FetchMeta{}, false
	}
	return m, true
}

// Errors a fetch can be rejected with.
var (
	ErrHTMLPage  = errors.New("the server sent an HTML page, not a list")
	ErrTooBig    = errors.New("the list is larger than the size limit")
	ErrShrunk    = errors.New("the list lost more than half its rules")
	ErrEmptyList = errors.New("the list has no rules")
)

// Fetch downloads a list if it changed and stores it when it is sound. The
// name must pass ValidListName: it names the list's files in Dir.
func (f *Fetcher) Fetch(ctx context.Context, name, url string, format Format) FetchResult {
	f.defaults()
	start := f.Now()
	res := FetchResult{Name: name, Status: FetchKept}
	if err := ValidListName(name); err != nil {
		res.Err = err
		return res
	}
	prev, havePrev := f.Meta(name)
	if havePrev && prev.URL != url {
		prev = FetchMeta{Rules: prev.Rules} // another URL: no conditional GET, but keep the rule count for the shrink check
	}
	meta := prev
	meta.URL = url
	meta.Checked = f.Now()

	body, resp, err := f.download(ctx, url, prev)
	res.Took = f.Now().Sub(start)
	switch {
	case err != nil:
		res.Err = err
	case resp.StatusCode == http.StatusNotModified:
		res.Status = FetchNotModified
	default:
		unchanged := havePrev && sameFile(f.Path(name), body)
		res.Err = f.store(name, format, body, resp, &meta)
		if res.Err == nil {
			res.Status = FetchUpdated
			if unchanged {
				res.Status = FetchNotModified // a server without validators sent the same list
			}
		}
	}
	if res.Err != nil {
		meta.LastError = res.Err.Error()
		meta.LastFailure = meta.Checked
		meta.Failures++
	} else {
		meta.LastError = ""
		meta.LastSuccess = meta.Checked
		meta.Failures = 0
	}
	if err := writeAtomic(f.metaPath(name), mustJSON(meta)); err != nil && res.Err == nil {
		res.Err = err
	}
	res.Meta = meta
	return res
}

// download GETs url, conditionally on what the cache has, retrying network
// errors and server errors with backoff.
func (f *Fetcher) download(ctx context.Context, url string, prev FetchMeta) ([]byte, *http.Response, error) {
	var lastErr error
	for attempt := 0; attempt <= max(f.Retries, 0); attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(f.Backoff(attempt)):
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("User-Agent", "pixelwall (list updater)")
		if prev.ETag != "" {
			req.Header.Set("If-None-Match", prev.ETag)
		}
		if prev.LastModified != "" {
			req.Header.Set("If-Modified-Since", prev.LastModified)
		}
		resp, err := f.Client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		body, err := f.readBody(resp)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNotModified:
			return nil, resp, nil
		case resp.StatusCode >= 500:
			lastErr = fmt.Errorf("%s: HTTP %s", url, resp.Status)
			continue
		case resp.StatusCode != http.StatusOK:
			return nil, nil, fmt.Errorf("%s: HTTP %s", url, resp.Status) // 4xx: retrying will not help
		case err != nil:
			return nil, nil, err
		}
		return body, resp, nil
	}
	return nil, nil, lastErr
}

// readBody reads up to MaxBytes, gunzipping a gzip file served as is.
func (f *Fetcher) readBody(resp *http.Response) ([]byte, error) {
	br := bufio.NewReader(resp.Body)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		r = gz
	}
	body, err := io.ReadAll(io.LimitReader(r, f.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > f.MaxBytes {
		return nil, fmt.Errorf("%w (%d bytes; cut off there)", ErrTooBig, f.MaxBytes)
	}
	return body, nil
}

var expiresRE = regexp.MustCompile(`(?im)^!\s*Expires:\s*(\d+)\s*(day|hour)s?`)

// store checks a downloaded list and, when sound, replaces the cached copy.
func (f *Fetcher) store(name string, format Format, body []byte, resp *http.Response, meta *FetchMeta) error {
	if looksLikeHTML(body, resp.Header.Get("Content-Type")) {
		return ErrHTMLPage
	}
	if err := checkText(body); err != nil {
		return err
	}
	m := Compile(Source{Name: name, Format: format, Text: string(body)})
	st := m.Lists()[0]
	rules := st.Rules() + st.Cosmetic
	if rules == 0 {
		return ErrEmptyList
	}
	if meta.Rules > 0 && rules*2 < meta.Rules {
		return fmt.Errorf("%w (%d rules, down from %d): a truncated download?", ErrShrunk, rules, meta.Rules)
	}
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return err
	}
	if err := writeAtomic(f.Path(name), body); err != nil {
		return err
	}
	meta.ETag = resp.Header.Get("ETag")
	meta.LastModified = resp.Header.Get("Last-Modified")
	meta.Updated = f.Now()
	meta.Bytes = int64(len(body))
	meta.Rules = rules
	meta.BadLines = st.BadCount
	meta.Expires = 0
	if sm := expiresRE.FindSubmatch(body[:min(len(body), 4096)]); sm != nil {
		n, _ := strconv.Atoi(string(sm[1]))
		unit := 24 * time.Hour
		if strings.EqualFold(string(sm[2]), "hour") {
			unit = time.Hour
		}
		meta.Expires = time.Duration(n) * unit
	}
	return nil
}

func looksLikeHTML(body []byte, contentType string) bool {
	if strings.HasPrefix(strings.ToLower(contentType), "text/html") {
		return true
	}
	head := strings.ToLower(string(bytes.TrimSpace(body[:min(len(body), 512)])))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html") || strings.HasPrefix(head, "<head")
}

func sameFile(path string, body []byte) bool {
	old, err := os.ReadFile(path)
	return err == nil && bytes.Equal(old, body)
}

// writeAtomic writes a file through a temporary file and a rename, so that
// readers see the old or the new content, never half of one.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func mustJSON(v any) []byte {
	b, _ := json.MarshalIndent(v, "", "  ")
	return b
}

// MarkDue makes a list due for checking: its next Fetch is not skipped by a
// schedule that reads Meta().Checked.
func (f *Fetcher) MarkDue(name string) {
	if m, ok := f.Meta(name); ok {
		m.Checked = time.Time{}
		_ = writeAtomic(f.metaPath(name), mustJSON(m))
	}
}
