package dashboard

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// testHost is the Host of test requests: a loopback address, as the
// dashboard without a password requires.
const testHost = "127.0.0.1:8080"

// newLog opens a block log in a temporary directory.
func newLog(t testing.TB) *blocklog.Log {
	t.Helper()
	l, err := blocklog.Open(blocklog.Options{Path: filepath.Join(t.TempDir(), "blocklog.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// add stores entries and waits until they are queryable.
func add(t testing.TB, l *blocklog.Log, entries ...blocklog.Entry) {
	t.Helper()
	for _, e := range entries {
		l.Add(e)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
}

// newServer returns a dashboard on l (a new log when nil), loopback-only
// unless opts says otherwise.
func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Log == nil {
		opts.Log = newLog(t)
	}
	if opts.PasswordHash == "" {
		opts.Loopback = true
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.failDelay = 0
	return s
}

// testHash is a cheap bcrypt hash of password.
func testHash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// request describes one request to the dashboard.
type request struct {
	method, target string
	form           url.Values
	cookies        []*http.Cookie
	header         map[string]string
}

// do serves req and returns the response and its body.
func do(t testing.TB, h http.Handler, req request) (*http.Response, string) {
	t.Helper()
	if req.method == "" {
		req.method = http.MethodGet
	}
	var body io.Reader
	if req.form != nil {
		body = strings.NewReader(req.form.Encode())
	}
	r := httptest.NewRequest(req.method, req.target, body)
	r.Host = testHost
	if req.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range req.cookies {
		r.AddCookie(c)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	resp := w.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// get fetches target and fails unless the status is 200.
func get(t testing.TB, h http.Handler, target string, cookies ...*http.Cookie) string {
	t.Helper()
	resp, body := do(t, h, request{target: target, cookies: cookies})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", target, resp.Status, body)
	}
	return body
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf extracts the CSRF token of a page's forms.
func csrfOf(t testing.TB, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

// cookie returns the response's cookie called name.
func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// sample is a small, varied log.
func sample() []blocklog.Entry {
	return []blocklog.Entry{
		{Layer: "http", Kind: "blocked", Client: "192.168.1.10", Method: "GET", Host: "pixel.tracker.test", URL: "https://pixel.tracker.test/p.gif?uid=42", Type: "image", Source: "news.test", Rule: "||tracker.test^", List: "easyprivacy"},
		{Layer: "http", Kind: "blocked", Client: "192.168.1.10", Method: "GET", Host: "pixel.tracker.test", URL: "https://pixel.tracker.test/p.gif?uid=43", Type: "image", Source: "shop.test", Rule: "||tracker.test^", List: "easyprivacy"},
		{Layer: "http", Kind: "heuristic", Client: "192.168.1.11", Method: "GET", Host: "beacon.other.test", URL: "https://beacon.other.test/collect", Type: "ping", Source: "news.test", Rule: "heuristic:beacon"},
		{Layer: "http", Kind: "connect-refused", Client: "192.168.1.10", Host: "pixel.tracker.test", URL: "pixel.tracker.test:443", Rule: "||tracker.test^", List: "easyprivacy"},
		{Layer: "dns", Kind: "blocked", Client: "192.168.1.12", Host: "ads.dns.test", Type: "A", Rule: "ads.dns.test", List: "hosts"},
		{Layer: "http", Kind: "params-stripped", Client: "192.168.1.11", Method: "GET", Host: "shop.test", URL: "https://shop.test/item?utm_source=x", Type: "document", Removed: []string{"utm_source"}},
	}
}

func TestOverview(t *testing.T) {
	l := newLog(t)
	add(t, l, sample()...)
	for range 4 {
		l.Count("http", false) // allowed requests, counted only
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, Options{Log: l})
	body := get(t, s, "/")

	// 10 decisions, of which 5 blocked (the stripped request passed).
	for _, want := range []string{
		`<div class="v">10</div>`,
		`<div class="v blocked">5</div>`,
		`<div class="v">50.0%</div>`,
		`Dropped log entries</div><div class="v">0</div>`,
		"<svg", "<rect class=\"blocked\"",
		"easyprivacy", "||tracker.test^", "192.168.1.10", "Top trackers", "Recent entries",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	// Top trackers: pixel.tracker.test (3) before beacon.other.test and
	// ads.dns.test (1 each); shop.test was not blocked.
	trackers := section(t, body, "Top trackers")
	i, j, k := strings.Index(trackers, "pixel.tracker.test"), strings.Index(trackers, "ads.dns.test"), strings.Index(trackers, "beacon.other.test")
	if i < 0 || j < 0 || k < 0 || i > j || j > k {
		t.Errorf("top trackers in the wrong order or missing:\n%s", trackers)
	}
	if !strings.Contains(trackers, `<td class="num">3</td>`) {
		t.Errorf("top trackers lack the count 3:\n%s", trackers)
	}
	if strings.Contains(trackers, "shop.test") {
		t.Errorf("top trackers include a host that was not blocked:\n%s", trackers)
	}
}

// section returns the part of body from the heading title to the next
// section's end.
func section(t *testing.T, body, title string) string {
	t.Helper()
	i := strings.Index(body, "<h2>"+title+"</h2>")
	if i < 0 {
		t.Fatalf("no section %q", title)
	}
	end := strings.Index(body[i:], "</section>")
	return body[i : i+end]
}

// rows counts the entry rows of a page.
func rows(body string) int { return strings.Count(body, `<span class="badge `) }

func TestLogSearch(t *testing.T) {
	l := newLog(t)
	add(t, l, sample()...)
	s := newServer(t, Options{Log: l})

	body := get(t, s, "/log")
	if n := rows(body); n != 6 {
		t.Errorf("unfiltered log: %d rows, want 6", n)
	}

	// Host matches subdomains; kind narrows.
	body = get(t, s, "/log?host=tracker.test&kind=blocked&since=1h")
	if n := rows(body); n != 2 {
		t.Errorf("host+kind: %d rows, want 2\n%s", n, body)
	}
	if strings.Contains(body, "beacon.other.test") || strings.Contains(body, "connect-refused</span>") {
		t.Error("host+kind search shows other entries")
	}
	if !strings.Contains(body, `<option value="blocked" selected>`) || !strings.Contains(body, `value="tracker.test"`) {
		t.Error("the form does not keep the search")
	}

	body = get(t, s, "/log?kind=heuristic")
	if n := rows(body); n != 1 || !strings.Contains(body, "beacon.other.test") {
		t.Errorf("kind=heuristic: %d rows\n%s", n, body)
	}
	body = get(t, s, "/log?layer=dns")
	if n := rows(body); n != 1 || !strings.Contains(body, "ads.dns.test") {
		t.Errorf("layer=dns: %d rows", n)
	}
	body = get(t, s, "/log?q=collect")
	if n := rows(body); n != 1 {
		t.Errorf("q=collect: %d rows", n)
	}
	body = get(t, s, "/log?client=192.168.1.11")
	if n := rows(body); n != 2 {
		t.Errorf("client: %d rows", n)
	}
	body = get(t, s, "/log?list=easyprivacy")
	if n := rows(body); n != 3 || !strings.Contains(body, "list: easyprivacy") {
		t.Errorf("list: %d rows", n)
	}
	// Allow forms only on rows an allow would change.
	body = get(t, s, "/log")
	if n := strings.Count(body, `<details class="allow">`); n != 0 {
		t.Errorf("%d allow forms without Options.Allow", n)
	}
	s = newServer(t, Options{Log: l, Allow: func(AllowAction) error { return nil }})
	body = get(t, s, "/log")
	if n := strings.Count(body, `<details class="allow">`); n != 5 {
		t.Errorf("%d allow forms, want 5 (all but params-stripped)", n)
	}
}

// TestLogCount: an entry that stands for many identical decisions (the
// block log folds repeats) shows how many.
func TestLogCount(t *testing.T) {
	l := newLog(t)
	add(t, l,
		blocklog.Entry{Layer: "dns", Kind: "blocked", Client: "192.168.1.12", Host: "many.dns.test", Type: "A", Count: 1234},
		blocklog.Entry{Layer: "dns", Kind: "blocked", Client: "192.168.1.12", Host: "once.dns.test", Type: "A"},
	)
	s := newServer(t, Options{Log: l})
	for _, target := range []string{"/", "/log"} {
		body := get(t, s, target)
		if n := strings.Count(body, "×"); n != 1 || !strings.Contains(body, ">×1,234</small>") {
			t.Errorf("%s: %d counts shown, want one, ×1,234", target, n)
		}
	}
}

func TestLogPagination(t *testing.T) {
	l := newLog(t)
	// Entries sharing one time must not be lost between pages.
	at := time.Now().Add(-time.Minute)
	var entries []blocklog.Entry
	for i := range 5 {
		entries = append(entries, blocklog.Entry{Time: at, Layer: "http", Kind: "blocked", Host: "t.test", URL: fmt.Sprintf("https://t.test/p%d", i)})
	}
	entries = append(entries, blocklog.Entry{Time: at.Add(-time.Second), Layer: "http", Kind: "blocked", Host: "t.test", URL: "https://t.test/p5"})
	add(t, l, entries...)
	s := newServer(t, Options{Log: l})

	seen := map[string]bool{}
	older := regexp.MustCompile(`<a href="([^"]+)">Older →</a>`)
	target := "/log?limit=2"
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("too many pages")
		}
		body := get(t, s, target)
		for _, m := range regexp.MustCompile(`https://t\.test/p\d`).FindAllString(body, -1) {
			seen[m] = true
		}
		if n := rows(body); n > 2 {
			t.Fatalf("page %d has %d rows", page, n)
		}
		m := older.FindStringSubmatch(body)
		if m == nil {
			break
		}
		target = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	if len(seen) != 6 {
		t.Errorf("saw %d entries over the pages, want 6: %v", len(seen), seen)
	}
}

// allowRecorder records the allows asked for.
type allowRecorder struct {
	mu  sync.Mutex
	got []AllowAction
	err error
}

func (a *allowRecorder) allow(x AllowAction) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, x)
	return a.err
}

func (a *allowRecorder) actions() []AllowAction {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

func TestAllow(t *testing.T) {
	l := newLog(t)
	add(t, l, sample()...)
	rec := &allowRecorder{}
	s := newServer(t, Options{Log: l, Allow: rec.allow})
	token := csrfOf(t, get(t, s, "/log?kind=blocked"))

	resp, body := do(t, s, request{method: "POST", target: "/allow", form: url.Values{
		"csrf": {token}, "back": {"/log?kind=blocked"}, "target": {"host"},
		"host": {"pixel.tracker.test"}, "site": {"news.test"}, "client": {"192.168.1.10"},
		"who": {"all"}, "for": {"hour"},
	}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("allow: %s\n%s", resp.Status, body)
	}
	if loc := resp.Header.Get("Location"); loc != "/log?kind=blocked" {
		t.Errorf("allow redirects to %q", loc)
	}
	want := AllowAction{Host: "pixel.tracker.test", For: time.Hour}
	if got := rec.actions(); len(got) != 1 || got[0] != want {
		t.Fatalf("Allow got %+v, want %+v", got, want)
	}
	fl := cookie(resp, flashCookie)
	if fl == nil {
		t.Fatal("no flash cookie")
	}
	resp, body = do(t, s, request{target: "/log?kind=blocked", cookies: []*http.Cookie{fl}})
	const msg = "allowed pixel.tracker.test for an hour for all clients"
	if !strings.Contains(body, msg) {
		t.Errorf("no flash %q after the redirect", msg)
	}
	// Shown once: the page clears the cookie.
	if c := cookie(resp, flashCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("the flash cookie is not cleared: %v", c)
	}

	// A site, for one client, always.
	resp, _ = do(t, s, request{method: "POST", target: "/allow", form: url.Values{
		"csrf": {token}, "back": {"/"}, "target": {"site"}, "host": {"pixel.tracker.test"},
		"site": {"news.test"}, "client": {"192.168.1.10"}, "who": {"client"}, "for": {"always"},
	}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("site allow: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	want = AllowAction{Site: "news.test", Client: "192.168.1.10"}
	if got := rec.actions(); len(got) != 2 || got[1] != want {
		t.Fatalf("Allow got %+v, want %+v", got, want)
	}
	body = get(t, s, "/", cookie(resp, flashCookie))
	if !strings.Contains(body, "allowed everything on pages of news.test always for 192.168.1.10 only") {
		t.Error("no flash for the site allow")
	}

	// A foreign back target goes to the log instead.
	resp, _ = do(t, s, request{method: "POST", target: "/allow", form: url.Values{
		"csrf": {token}, "back": {"//evil.test/"}, "host": {"a.test"}, "who": {"all"}, "for": {"hour"},
	}})
	if loc := resp.Header.Get("Location"); loc != "/log" {
		t.Errorf("foreign back target: redirect to %q", loc)
	}

	// Allow fails: the flash says so.
	rec.err = errors.New("config is read-only")
	resp, _ = do(t, s, request{method: "POST", target: "/allow", form: url.Values{
		"csrf": {token}, "host": {"b.test"}, "who": {"all"}, "for": {"always"},
	}})
	body = get(t, s, "/log", cookie(resp, flashCookie))
	if !strings.Contains(body, `class="flash error"`) || !strings.Contains(body, "config is read-only") {
		t.Error("a failed allow shows no error")
	}

	// Bad values are refused.
	resp, _ = do(t, s, request{method: "POST", target: "/allow", form: url.Values{
		"csrf": {token}, "host": {"bad host/x"}, "who": {"all"}, "for": {"hour"},
	}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad host: %s", resp.Status)
	}
}

func TestAllowCSRF(t *testing.T) {
	rec := &allowRecorder{}
	l := newLog(t)
	add(t, l, sample()...)
	s := newServer(t, Options{Log: l, Allow: rec.allow})
	token := csrfOf(t, get(t, s, "/log"))
	form := func(token string) url.Values {
		return url.Values{"csrf": {token}, "host": {"a.test"}, "who": {"all"}, "for": {"hour"}}
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
		want   int
	}{
		{"no token", url.Values{"host": {"a.test"}, "who": {"all"}, "for": {"hour"}}, nil, http.StatusForbidden},
		{"wrong token", form("AAAA" + token[4:]), nil, http.StatusForbidden},
		{"foreign origin", form(token), map[string]string{"Origin": "http://evil.test"}, http.StatusForbidden},
		{"null origin", form(token), map[string]string{"Origin": "null"}, http.StatusForbidden},
		// Chromium sends Origin: null on form posts under some referrer
		// policies; Sec-Fetch-Site says what it really is (found by the
		// browser test in cmd/pixelwall).
		{"null origin, same-origin fetch", form(token), map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
		{"null origin, same-origin fetch, no token", form(""), map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, http.StatusForbidden},
		{"cross-site fetch", form(token), map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same origin", form(token), map[string]string{"Origin": "http://" + testHost, "Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
		{"no origin", form(token), nil, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.actions())
			resp, body := do(t, s, request{method: "POST", target: "/allow", form: tc.form, header: tc.header})
			if resp.StatusCode != tc.want {
				t.Fatalf("%s, want %d\n%s", resp.Status, tc.want, body)
			}
			called := len(rec.actions()) > before
			if called != (tc.want == http.StatusSeeOther) {
				t.Errorf("Allow called: %v", called)
			}
		})
	}
	// Another process's token is not valid here.
	other := newServer(t, Options{Log: l, Allow: rec.allow})
	resp, _ := do(t, other, request{method: "POST", target: "/allow", form: form(token)})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("another server's token: %s", resp.Status)
	}
}

func TestLogin(t *testing.T) {
	hash := testHash(t, "correct horse")
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up 1\n") })
	s := newServer(t, Options{PasswordHash: hash, Loopback: false, Metrics: metrics, Allow: func(AllowAction) error { return nil }})

	// No session: every page goes to the login page.
	for _, target := range []string{"/", "/log?kind=blocked", "/lists", "/metrics"} {
		resp, _ := do(t, s, request{target: target})
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without a session: %s to %q", target, resp.Status, resp.Header.Get("Location"))
		}
	}
	resp, _ := do(t, s, request{method: "POST", target: "/allow", form: url.Values{"host": {"a.test"}}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("POST /allow without a session: %s", resp.Status)
	}

	page := get(t, s, "/login?next=%2Flog%3Fkind%3Dblocked")
	token := csrfOf(t, page)
	if !strings.Contains(page, `type="password"`) || strings.Contains(page, "<nav>") {
		t.Error("the login page shows no password field, or the menu")
	}

	// Wrong password: 401 and the form again.
	resp, body := do(t, s, request{method: "POST", target: "/login", form: url.Values{"csrf": {token}, "password": {"wrong"}}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `type="password"`) || !strings.Contains(body, "Wrong password") {
		t.Fatalf("wrong password: %s", resp.Status)
	}
	if cookie(resp, sessionCookie) != nil {
		t.Error("a wrong password got a session")
	}
	// No token: 403, even with the right password.
	resp, _ = do(t, s, request{method: "POST", target: "/login", form: url.Values{"password": {"correct horse"}}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without a token: %s", resp.Status)
	}

	// Right password: a session cookie and the page asked for.
	resp, _ = do(t, s, request{method: "POST", target: "/login", form: url.Values{
		"csrf": {token}, "password": {"correct horse"}, "next": {"/log?kind=blocked"},
	}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/log?kind=blocked" {
		t.Fatalf("login: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	sess := cookie(resp, sessionCookie)
	if sess == nil || len(sess.Value) < 43 || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure ||
		sess.MaxAge != 12*3600 {
		t.Fatalf("session cookie: %+v", sess)
	}
	body = get(t, s, "/", sess)
	if !strings.Contains(body, "Log out") {
		t.Error("no logout button")
	}
	get(t, s, "/metrics", sess)
	if resp, _ := do(t, s, request{target: "/login", cookies: []*http.Cookie{sess}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /login with a session: %s", resp.Status)
	}

	// The login form's token does not work for other forms.
	resp, _ = do(t, s, request{method: "POST", target: "/allow", cookies: []*http.Cookie{sess},
		form: url.Values{"csrf": {token}, "host": {"a.test"}, "who": {"all"}, "for": {"hour"}}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("allow with the login token: %s", resp.Status)
	}
	sessToken := csrfOf(t, body)
	if sessToken == token {
		t.Error("the session's CSRF token is the login form's")
	}
	resp, _ = do(t, s, request{method: "POST", target: "/allow", cookies: []*http.Cookie{sess},
		form: url.Values{"csrf": {sessToken}, "host": {"a.test"}, "who": {"all"}, "for": {"hour"}}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("allow with the session's token: %s", resp.Status)
	}

	// Logout ends the session.
	resp, _ = do(t, s, request{method: "POST", target: "/logout", cookies: []*http.Cookie{sess}, form: url.Values{"csrf": {sessToken}}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %s", resp.Status)
	}
	if c := cookie(resp, sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Error("logout does not clear the cookie")
	}
	resp, _ = do(t, s, request{target: "/", cookies: []*http.Cookie{sess}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / after logout: %s", resp.Status)
	}

	// Over TLS the cookie is Secure.
	resp, _ = do(t, s, request{method: "POST", target: "https://" + testHost + "/login", form: url.Values{"csrf": {token}, "password": {"correct horse"}}})
	if c := cookie(resp, sessionCookie); c == nil || !c.Secure {
		t.Errorf("session cookie over TLS: %+v", c)
	}

	// Sessions expire after 12 hours.
	now := time.Now()
	s.now = func() time.Time { return now.Add(12*time.Hour + time.Minute) }
	resp, _ = do(t, s, request{target: "/", cookies: []*http.Cookie{cookie(resp, sessionCookie)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("expired session: %s", resp.Status)
	}
}

func TestMetricsBasicAuth(t *testing.T) {
	hash := testHash(t, "pw")
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up 1\n") })
	s := newServer(t, Options{PasswordHash: hash, Metrics: metrics})
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.SetBasicAuth("prometheus", "pw")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusOK || w.Body.String() != "up 1\n" {
		t.Errorf("metrics with basic auth: %d %q", w.Code, w.Body)
	}
	r.SetBasicAuth("prometheus", "nope")
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("metrics with a wrong password: %d", w.Code)
	}
	// Basic auth opens /metrics only.
	r = httptest.NewRequest("GET", "/log", nil)
	r.SetBasicAuth("prometheus", "pw")
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Errorf("/log with basic auth: %d", w.Code)
	}
}

func TestNew(t *testing.T) {
	l := newLog(t)
	if _, err := New(Options{Log: l}); err == nil {
		t.Error("New without a password on a non-loopback listener succeeded")
	}
	if _, err := New(Options{Log: l, PasswordHash: "plain"}); err == nil {
		t.Error("New with a malformed hash succeeded")
	}
	if _, err := New(Options{Loopback: true}); err == nil {
		t.Error("New without a log succeeded")
	}
	if _, err := New(Options{Log: l, Loopback: true}); err != nil {
		t.Errorf("loopback without a password: %v", err)
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("HashPassword accepted an empty password")
	}
	hash, err := HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("HashPassword: cost %d, %v", cost, err)
	}
}

func TestMetrics(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "pixelwall_requests_total 7\n")
	})
	s := newServer(t, Options{Metrics: metrics})
	resp, body := do(t, s, request{target: "/metrics"})
	if resp.StatusCode != http.StatusOK || body != "pixelwall_requests_total 7\n" {
		t.Errorf("/metrics: %s %q", resp.Status, body)
	}
	if !strings.Contains(get(t, s, "/"), `href="/metrics"`) {
		t.Error("no link to the metrics")
	}
	s = newServer(t, Options{})
	if resp, _ := do(t, s, request{target: "/metrics"}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics without a handler: %s", resp.Status)
	}
}

func TestSecurityHeaders(t *testing.T) {
	s := newServer(t, Options{Metrics: http.NotFoundHandler()})
	for _, target := range []string{"/", "/log", "/lists", "/metrics", "/nope", "/login"} {
		resp, _ := do(t, s, request{target: target})
		h := resp.Header
		if h.Get("Content-Security-Policy") != csp || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: headers %v", target, h)
		}
	}
	resp, _ := do(t, s, request{method: "POST", target: "/allow", form: url.Values{}})
	if resp.Header.Get("Content-Security-Policy") != csp {
		t.Error("no CSP on a refused POST")
	}
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q", csp)
	}
}

func TestLoopbackOnlyHost(t *testing.T) {
	s := newServer(t, Options{})
	for host, want := range map[string]int{
		"127.0.0.1:8080": 200, "localhost:8080": 200, "[::1]:8080": 200, "LOCALHOST": 200,
		"evil.test": http.StatusMisdirectedRequest, "evil.test:8080": http.StatusMisdirectedRequest,
		"192.168.1.2:8080": http.StatusMisdirectedRequest,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %s: %d, want %d", host, w.Code, want)
		}
	}
}

func TestEscaping(t *testing.T) {
	l := newLog(t)
	add(t, l, blocklog.Entry{
		Layer: "http", Kind: "blocked", Client: "192.168.1.66", Host: "evil.test",
		URL:    `https://evil.test/<script>alert(1)</script>/"onmouseover="alert(2)`,
		Source: `x"><img src=x onerror=alert(3)>`, Rule: `||evil.test^$domain=<b>bold</b>`, List: `<i>list</i>`,
		Type: "script",
	})
	s := newServer(t, Options{Log: l, Allow: func(AllowAction) error { return nil }})
	for _, target := range []string{"/", "/log", "/log?q=%3Cscript%3E"} {
		body := get(t, s, target)
		for _, bad := range []string{"<script>", `"onmouseover="`, "<img src=x", "<b>bold", "<i>list"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q unescaped", target, bad)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("%s does not show the escaped URL", target)
		}
	}
	// The search box echoes the query escaped.
	body := get(t, s, `/log?q=%22%3E%3Cscript%3Ex`)
	if strings.Contains(body, `"><script>x`) {
		t.Error("the search box echoes HTML")
	}
	// A hostile list status too.
	s = newServer(t, Options{Log: l, Lists: func() []blocklist.ListStatus {
		return []blocklist.ListStatus{{Name: "<script>n</script>", Source: "https://lists.test/l.txt", State: blocklist.ListFailed,
			Reason: "<script>e</script>", Stats: blocklist.ListStats{Name: "x", BadCount: 1, Bad: []blocklist.BadLine{{Line: 1, Text: "<script>b</script>", Err: "bad"}}}}}
	}})
	for _, page := range []string{"/lists", "/"} {
		if body := get(t, s, page); strings.Contains(body, "<script>") {
			t.Errorf("%s contains <script> unescaped", page)
		}
	}
}

// testLists are lists in every state.
func testLists(now time.Time) []blocklist.ListStatus {
	return []blocklist.ListStatus{
		{Name: "easyprivacy", Source: "https://easylist.test/easyprivacy.txt", State: blocklist.ListOK,
			Stats: blocklist.Compile(blocklist.Source{Name: "easyprivacy", Format: blocklist.FormatAdblock, Text: "||a.test^\n||b.test^\n||x.test/a$image,~image\n||y.test/a$script,~script\n"}).Lists()[0],
			Meta:  blocklist.FetchMeta{Updated: now.Add(-3 * time.Hour), Checked: now.Add(-10 * time.Minute), LastSuccess: now.Add(-10 * time.Minute)}},
		{Name: "mine", Source: "/etc/pixelwall/mine.txt", State: blocklist.ListMissing, Reason: "open /etc/pixelwall/mine.txt: no such file or directory"},
		{Name: "htmlpage", Source: "https://lists.test/moved.txt", State: blocklist.ListStale,
			Reason: "the last download failed (the server sent an HTML page, not a list); the last good copy serves",
			Meta:   blocklist.FetchMeta{Updated: now.Add(-50 * time.Hour), LastSuccess: now.Add(-50 * time.Hour), LastFailure: now.Add(-2 * time.Minute), Failures: 3}},
		{Name: "offline", Source: "https://unreachable.test/list.txt", State: blocklist.ListFailed,
			Reason: "dial tcp: lookup unreachable.test: no such host", Meta: blocklist.FetchMeta{LastFailure: now.Add(-time.Minute), Failures: 1}},
		{Name: "fresh", Source: "https://lists.test/fresh.txt", State: blocklist.ListNeverFetched, Reason: "not downloaded yet"},
	}
}

func TestLists(t *testing.T) {
	now := time.Now()
	s := newServer(t, Options{Lists: func() []blocklist.ListStatus { return testLists(now) }})
	body := get(t, s, "/lists")
	for _, want := range []string{"easyprivacy", "adblock", "3 h ago", "10 min ago",
		`<span class="badge k-block">missing</span>`, "open /etc/pixelwall/mine.txt: no such file or directory",
		`<span class="badge k-heur">stale</span>`, "the server sent an HTML page", "(3 in a row)", "2 days ago",
		`<span class="badge k-block">failed</span>`, "no such host",
		`<span class="badge k-heur">never downloaded</span>`, `<span class="badge k-pass">ok</span>`, "3 failing"} {
		if !strings.Contains(body, want) {
			t.Errorf("/lists lacks %q", want)
		}
	}
	if !strings.Contains(body, `<td class="num" data-l="Rules">2</td>`) || !strings.Contains(body, "<summary>2</summary>") {
		t.Errorf("/lists does not show easyprivacy's 2 rules and 2 bad lines")
	}
	// The overview warns about the stale, the missing and the failed list,
	// not the others.
	body = get(t, s, "/")
	for _, want := range []string{"List <a href=\"/lists\">mine</a> is missing: open /etc/pixelwall/mine.txt",
		"List <a href=\"/lists\">htmlpage</a> could not be updated: the last download failed",
		"List <a href=\"/lists\">offline</a> failed: dial tcp"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks the warning %q", want)
		}
	}
	if n := strings.Count(body, `role="alert"`); n != 3 {
		t.Errorf("overview has %d list warnings, want 3", n)
	}
	s = newServer(t, Options{})
	if body := get(t, s, "/lists"); !strings.Contains(body, "not available") {
		t.Error("/lists without Options.Lists")
	}
}

func TestAllowActionString(t *testing.T) {
	for _, tc := range []struct {
		a    AllowAction
		want string
	}{
		{AllowAction{Host: "example.com", For: time.Hour}, "example.com for an hour for all clients"},
		{AllowAction{Host: "example.com", Client: "10.0.0.2"}, "example.com always for 10.0.0.2 only"},
		{AllowAction{Site: "news.test", For: 2 * time.Hour}, "everything on pages of news.test for 2h0m0s for all clients"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.a, got, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	now := time.Now()
	for d, want := range map[time.Duration]string{
		time.Second: "just now", 30 * time.Second: "30 s ago", 3 * time.Minute: "3 min ago",
		5 * time.Hour: "5 h ago", 72 * time.Hour: "3 days ago", -time.Minute: "just now",
	} {
		if got := ago(now, now.Add(-d)); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := num(n); got != want {
			t.Errorf("num(%d) = %q, want %q", n, got, want)
		}
	}
	for max, want := range map[int64]int64{0: 1, 3: 1, 10: 5, 37: 10, 100: 50, 1234: 500} {
		if got := niceStep(max); got != want {
			t.Errorf("niceStep(%d) = %d, want %d", max, got, want)
		}
	}
	if got := short(1500); got != "1.5k" {
		t.Errorf("short(1500) = %q", got)
	}
	if got := percent(1, 3); got != "33.3%" {
		t.Errorf("percent(1, 3) = %q", got)
	}
}

func TestChart(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.Local)
	var points []blocklog.Point
	for i := range 49 {
		points = append(points, blocklog.Point{Time: start.Add(time.Duration(i) * 30 * time.Minute), Total: int64(i * 10), Blocked: int64(i * 3)})
	}
	c := newChart(points, 30*time.Minute, start.Add(24*time.Hour+10*time.Minute))
	if len(c.Bars) != 49 || c.Empty {
		t.Fatalf("%d bars", len(c.Bars))
	}
	last := c.Bars[48]
	if last.TotalY < c.Top || last.TotalY+last.TotalH != c.Bottom || last.BlockedH >= last.TotalH {
		t.Errorf("last bar %+v in plot %v..%v", last, c.Top, c.Bottom)
	}
	if len(c.XTicks) != 9 || c.XTicks[0].Label != "Mar 1" || c.XTicks[1].Label != "03:00" {
		t.Errorf("x ticks %+v", c.XTicks)
	}
	if top := c.YTicks[len(c.YTicks)-1]; top.Label != "600" || top.Pos != c.Top {
		t.Errorf("y ticks %+v", c.YTicks)
	}
}

func BenchmarkOverview(b *testing.B) {
	l := newLog(b)
	var entries []blocklog.Entry
	now := time.Now()
	for i := range 5000 {
		entries = append(entries, blocklog.Entry{
			Time: now.Add(-time.Duration(i) * 17 * time.Second), Layer: "http", Kind: []blocklog.Kind{"blocked", "heuristic", "params-stripped", "connect-refused"}[i%4],
			Client: fmt.Sprintf("192.168.1.%d", i%20), Host: fmt.Sprintf("t%d.tracker%d.test", i%50, i%7),
			URL: fmt.Sprintf("https://t%d.tracker.test/p?id=%d", i%50, i), Rule: fmt.Sprintf("||tracker%d.test^", i%7), List: "easyprivacy",
		})
	}
	add(b, l, entries...)
	s := newServer(b, Options{Log: l, Allow: func(AllowAction) error { return nil }})
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = testHost
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
