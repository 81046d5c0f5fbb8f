package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// pauseRecorder is a PauseControl keeping pauses in memory.
type pauseRecorder struct{ pauses []blocklist.Pause }

func (p *pauseRecorder) control() PauseControl {
	return PauseControl{
		Pause: func(x blocklist.Pause) (blocklist.Pause, error) {
			if x.Scope == blocklist.PauseGroup && x.Name != "kids" {
				return x, &apiTestError{"no group " + x.Name}
			}
			p.pauses = append(p.pauses, x)
			return x, nil
		},
		Resume: func(x blocklist.Pause) (int, error) {
			n := len(p.pauses)
			p.pauses = nil
			return n, nil
		},
		Pauses: func() []blocklist.Pause { return p.pauses },
	}
}

type apiTestError struct{ s string }

func (e *apiTestError) Error() string { return e.s }

// apiCall serves one API request with a JSON body (nil: none).
func apiCall(t *testing.T, h http.Handler, method, target, body string, header map[string]string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = testHost
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func TestAPIPauseAndClients(t *testing.T) {
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	pr := &pauseRecorder{}
	l := newLog(t)
	add(t, l, sample()...)
	s := newServer(t, Options{Log: l, Pauses: pr.control(), Now: func() time.Time { return now },
		Clients: func() []ClientInfo {
			return []ClientInfo{{Name: "tablet", Addresses: []string{"192.168.1.10/32"}, Group: "kids"}}
		},
		ClientName: func(a netip.Addr) string {
			if a.String() == "192.168.1.10" {
				return "tablet"
			}
			return ""
		},
	})
	code, body := apiCall(t, s, "POST", "/api/pause", `{"scope":"site","name":"news.test","for":"30m"}`, nil)
	if code != 200 || len(pr.pauses) != 1 || !pr.pauses[0].Until.Equal(now.Add(30*time.Minute)) || pr.pauses[0].Name != "news.test" {
		t.Fatalf("pause: %d %s %+v", code, body, pr.pauses)
	}
	if code, body := apiCall(t, s, "POST", "/api/pause", `{"scope":"group","name":"nope"}`, nil); code != 400 || !strings.Contains(body, "no group nope") {
		t.Errorf("bad pause: %d %s", code, body)
	}
	if code, body := apiCall(t, s, "POST", "/api/pause", `{"scope":"site","name":"a.test","forever":true}`, nil); code != 400 {
		t.Errorf("unknown field: %d %s", code, body)
	}
	if code, body := apiCall(t, s, "GET", "/api/pauses", "", nil); code != 200 || !strings.Contains(body, `"news.test"`) {
		t.Errorf("pauses: %d %s", code, body)
	}
	// The Clients page shows the pause with its time left.
	page := get(t, s, "/clients")
	if !strings.Contains(page, "news.test") || !strings.Contains(page, "30m0s") || !strings.Contains(page, "tablet") {
		t.Errorf("clients page lacks the pause or the client:\n%s", page)
	}
	code, body = apiCall(t, s, "GET", "/api/clients", "", nil)
	var clients []ClientStats
	if err := json.Unmarshal([]byte(body), &clients); code != 200 || err != nil {
		t.Fatalf("clients: %d %v %s", code, err, body)
	}
	var tablet *ClientStats
	for i := range clients {
		if clients[i].Name == "tablet" {
			tablet = &clients[i]
		}
	}
	// 192.168.1.10 has two blocks and a connect-refused in the sample.
	if tablet == nil || tablet.Group != "kids" || tablet.Blocks != 3 || len(tablet.Top) == 0 || tablet.Top[0].Key != "pixel.tracker.test" {
		t.Errorf("tablet: %+v (all: %+v)", tablet, clients)
	}
	// The log by client name.
	code, body = apiCall(t, s, "GET", "/api/log?client=tablet", "", nil)
	if code != 200 || strings.Count(body, `"client":"192.168.1.10"`) != 3 || strings.Contains(body, "192.168.1.11") {
		t.Errorf("log for tablet: %d %s", code, body)
	}
	// The log page: the client's name for its address, and the name as a
	// filter.
	logPage := get(t, s, "/log?client=tablet&since=all")
	if !strings.Contains(logPage, `title="192.168.1.10">tablet</a>`) || strings.Contains(logPage, "192.168.1.11") {
		t.Errorf("log page for tablet:\n%s", logPage)
	}
	if code, body := apiCall(t, s, "POST", "/api/resume", `{"scope":"all"}`, nil); code != 200 || !strings.Contains(body, `"resumed":1`) {
		t.Errorf("resume: %d %s", code, body)
	}
}

// TestAPISafety: JSON bodies only, no cross-origin calls, the password by
// basic auth or bearer token (never the session cookie).
func TestAPISafety(t *testing.T) {
	pr := &pauseRecorder{}
	open := newServer(t, Options{Pauses: pr.control()})
	r := httptest.NewRequest("POST", "/api/pause", strings.NewReader(`{"scope":"all"}`))
	r.Host = testHost
	r.Header.Set("Content-Type", "text/plain")
	w := httptest.NewRecorder()
	open.ServeHTTP(w, r)
	if w.Code != http.StatusUnsupportedMediaType || len(pr.pauses) != 0 {
		t.Errorf("text/plain body: %d, paused %d", w.Code, len(pr.pauses))
	}
	if code, _ := apiCall(t, open, "POST", "/api/pause", `{"scope":"all"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden || len(pr.pauses) != 0 {
		t.Errorf("cross-site call: %d", code)
	}

	locked := newServer(t, Options{Pauses: pr.control(), PasswordHash: testHash(t, "secret-pw")})
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Cookie": sessionCookie + "=anything"}} {
		if code, _ := apiCall(t, locked, "POST", "/api/pause", `{"scope":"all"}`, h); code != http.StatusUnauthorized {
			t.Errorf("%v: %d, want 401", h, code)
		}
	}
	if len(pr.pauses) != 0 {
		t.Fatal("paused without the password")
	}
	if code, body := apiCall(t, locked, "POST", "/api/pause", `{"scope":"all"}`, map[string]string{"Authorization": "Bearer secret-pw"}); code != 200 {
		t.Errorf("bearer: %d %s", code, body)
	}
	r = httptest.NewRequest("GET", "/api/pauses", nil)
	r.SetBasicAuth("me", "secret-pw")
	w = httptest.NewRecorder()
	locked.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"scope":"all"`) {
		t.Errorf("basic auth: %d %s", w.Code, w.Body.String())
	}
}
