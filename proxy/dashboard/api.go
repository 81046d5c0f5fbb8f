package dashboard

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// The JSON API under /api/ is for scripts and the CLI. It never uses the
// session cookie: with a password, every call carries it with HTTP basic
// authentication (any user name) or as "Authorization: Bearer PASSWORD";
// without one, the dashboard is on loopback and answers loopback host names
// only. Calls that change anything are POSTs with a JSON body of type
// application/json, which a page of another site cannot send without a
// CORS preflight that is never granted, and they pass the same cross-origin
// check as forms.

// PauseControl is what the dashboard asks of pauses.
type PauseControl struct {
	Pause  func(blocklist.Pause) (blocklist.Pause, error)
	Resume func(blocklist.Pause) (int, error)
	Pauses func() []blocklist.Pause
}

// ClientInfo is a client as configured: its name, networks and group.
type ClientInfo struct {
	Name      string   `json:"name"`
	Addresses []string `json:"addresses"`
	Group     string   `json:"group"`
}

// apiMaxBody bounds an API request body.
const apiMaxBody = 16 << 10

// serveAPI authenticates and routes an /api/ call.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if s.auth && !s.apiAuthorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="pixelwall", charset="UTF-8"`)
		apiError(w, http.StatusUnauthorized, "the dashboard password is required (basic auth or a bearer token)")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/json" {
			apiError(w, http.StatusUnsupportedMediaType, "send a JSON body with Content-Type: application/json")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, apiMaxBody)
	}
	s.api.ServeHTTP(w, r)
}

// apiAuthorized checks the password sent with basic auth or as a bearer
// token.
func (s *Server) apiAuthorized(r *http.Request) bool {
	if _, password, ok := r.BasicAuth(); ok {
		return s.checkPassword(r.Context(), password)
	}
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && token != "" {
		return s.checkPassword(r.Context(), token)
	}
	return false
}

func (s *Server) apiRoutes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("POST /api/pause", s.apiPause)
	m.HandleFunc("POST /api/resume", s.apiResume)
	m.HandleFunc("GET /api/pauses", s.apiPauses)
	m.HandleFunc("GET /api/clients", s.apiClients)
	m.HandleFunc("GET /api/stats", s.apiStats)
	m.HandleFunc("GET /api/log", s.apiLog)
	m.HandleFunc("POST /api/allow", s.apiAllow)
	m.HandleFunc("POST /api/unallow", s.apiUnallow)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such API call")
	})
	return m
}

func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// decode reads the JSON body into v, refusing unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	return true
}

// PauseRequest is the body of /api/pause and /api/resume: scope is all,
// group, client or site; for a pause, For ("30m", "1h") or Until
// (RFC 3339), neither: until resumed.
type PauseRequest struct {
	Scope string    `json:"scope"`
	Name  string    `json:"name,omitempty"`
	For   string    `json:"for,omitempty"`
	Until time.Time `json:"until,omitzero"`
}

// pauseOf turns a request into a Pause.
func (s *Server) pauseOf(pr PauseRequest, resume bool) (blocklist.Pause, error) {
	p := blocklist.Pause{Scope: blocklist.PauseScope(pr.Scope), Name: pr.Name, Until: pr.Until}
	if p.Scope == "" {
		p.Scope = blocklist.PauseAll
	}
	if pr.For != "" && !resume {
		if !pr.Until.IsZero() {
			return p, errors.New("give for or until, not both")
		}
		d, err := time.ParseDuration(pr.For)
		if err != nil || d <= 0 {
			return p, errors.New("for: want a positive duration such as 30m or 1h")
		}
		p.Until = s.now().Add(d)
	}
	return p, nil
}

func (s *Server) apiPause(w http.ResponseWriter, r *http.Request) {
	var pr PauseRequest
	if s.opts.Pauses.Pause == nil {
		apiError(w, http.StatusNotFound, "pauses are not available")
		return
	}
	if !decode(w, r, &pr) {
		return
	}
	p, err := s.pauseOf(pr, false)
	if err == nil {
		p, err = s.opts.Pauses.Pause(p)
	}
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.logger.Info("dashboard: paused", "pause", p.String(), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) apiResume(w http.ResponseWriter, r *http.Request) {
	var pr PauseRequest
	if s.opts.Pauses.Resume == nil {
		apiError(w, http.StatusNotFound, "pauses are not available")
		return
	}
	if !decode(w, r, &pr) {
		return
	}
	p, _ := s.pauseOf(pr, true)
	n, err := s.opts.Pauses.Resume(p)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.logger.Info("dashboard: resumed", "scope", p.Scope, "name", p.Name, "ended", n, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]int{"resumed": n})
}

func (s *Server) apiPauses(w http.ResponseWriter, r *http.Request) {
	out := []blocklist.Pause{}
	if s.opts.Pauses.Pauses != nil {
		out = append(out, s.opts.Pauses.Pauses()...)
	}
	writeJSON(w, http.StatusOK, out)
}

// ClientStats is a client on /api/clients and the Clients page: as
// configured (or only seen in the log), with its decisions over the last
// 24 hours.
type ClientStats struct {
	ClientInfo
	Seen     []string         `json:"seen,omitempty"` // addresses in the log
	Requests int64            `json:"requests"`       // stored decisions (every request with log.log_allowed)
	Blocks   int64            `json:"blocks"`
	LastSeen time.Time        `json:"last_seen,omitzero"`
	Top      []blocklog.Count `json:"top_trackers,omitempty"`
}

// clientStats gathers the configured clients and the addresses of the
// log's last 24 hours, grouping addresses under their client's name.
func (s *Server) clientStats(r *http.Request) ([]ClientStats, error) {
	ctx := r.Context()
	since := s.now().Add(-24 * time.Hour)
	all, err := s.opts.Log.Top(ctx, "clients", blocklog.Filter{Since: since}, 500)
	if err != nil {
		return nil, err
	}
	blocks, err := s.opts.Log.Top(ctx, "clients", blocklog.Filter{Since: since, Kinds: trackerKinds}, 500)
	if err != nil {
		return nil, err
	}
	blocked := map[string]int64{}
	for _, c := range blocks {
		blocked[c.Key] = c.N
	}
	var out []ClientStats
	index := map[string]int{}
	if s.opts.Clients != nil {
		for _, c := range s.opts.Clients() {
			index[c.Name] = len(out)
			out = append(out, ClientStats{ClientInfo: c})
		}
	}
	for _, c := range all {
		name := ""
		if s.opts.ClientName != nil {
			if a, err := netip.ParseAddr(c.Key); err == nil {
				name = s.opts.ClientName(a)
			}
		}
		if name == "" {
			name = c.Key
		}
		i, ok := index[name]
		if !ok {
			i = len(out)
			index[name] = i
			out = append(out, ClientStats{ClientInfo: ClientInfo{Name: name, Addresses: []string{c.Key}, Group: blocklist.DefaultGroup}})
		}
		cs := &out[i]
		cs.Seen = append(cs.Seen, c.Key)
		cs.Requests += c.N
		cs.Blocks += blocked[c.Key]
		last, err := s.opts.Log.Query(ctx, blocklog.Filter{Client: c.Key, Limit: 1})
		if err == nil && len(last) == 1 && last[0].Time.After(cs.LastSeen) {
			cs.LastSeen = last[0].Time
		}
		if len(cs.Seen) == 1 {
			cs.Top, _ = s.opts.Log.Top(ctx, "hosts", blocklog.Filter{Since: since, Client: c.Key, Kinds: trackerKinds}, 5)
		}
	}
	return out, nil
}

func (s *Server) apiClients(w http.ResponseWriter, r *http.Request) {
	out, err := s.clientStats(r)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if out == nil {
		out = []ClientStats{}
	}
	writeJSON(w, http.StatusOK, out)
}

// apiStats is the last 24 hours: decisions, blocks, top trackers.
func (s *Server) apiStats(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	since := s.now().Add(-24 * time.Hour)
	pts, err := s.opts.Log.Series(ctx, since, time.Hour, "")
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	var total, blocked int64
	for _, p := range pts {
		total += p.Total
		blocked += p.Blocked
	}
	top, err := s.opts.Log.Top(ctx, "hosts", blocklog.Filter{Since: since, Kinds: trackerKinds}, 10)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"since": since, "total": total, "blocked": blocked, "top_trackers": top})
}

// apiLog is a log query: client (a name or an address), host, kind, list,
// search, limit (default 100, at most 1000).
func (s *Server) apiLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := blocklog.Filter{Host: q.Get("host"), Kind: blocklog.Kind(q.Get("kind")), List: q.Get("list"), Search: q.Get("search"), Limit: blocklog.DefaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1000 {
			apiError(w, http.StatusBadRequest, "limit: want 1 to 1000")
			return
		}
		f.Limit = n
	}
	var entries []blocklog.Entry
	for _, addr := range s.clientAddrs(q.Get("client")) {
		f.Client = addr
		es, err := s.opts.Log.Query(r.Context(), f)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		entries = append(entries, es...)
	}
	if entries == nil {
		entries = []blocklog.Entry{}
	}
	writeJSON(w, http.StatusOK, entries)
}

// clientAddrs are the log's client values for a client filter: an address
// as given, a configured name as the addresses its networks hold (a single
// address each; a network's clients are matched by name in the log view),
// or every client ("" selects everything).
func (s *Server) clientAddrs(client string) []string {
	if client == "" {
		return []string{""}
	}
	if a, err := netip.ParseAddr(client); err == nil {
		return []string{a.String()}
	}
	if s.opts.Clients != nil {
		for _, c := range s.opts.Clients() {
			if c.Name != client {
				continue
			}
			var out []string
			for _, a := range c.Addresses {
				if p, err := netip.ParsePrefix(a); err == nil && p.IsSingleIP() {
					out = append(out, p.Addr().String())
				} else if ip, err := netip.ParseAddr(a); err == nil {
					out = append(out, ip.String())
				}
			}
			return out
		}
	}
	return []string{client}
}

// AllowRequest is the body of /api/allow and /api/unallow: a host or a
// site, for one client address or everyone, for a duration or always.
type AllowRequest struct {
	Host   string `json:"host,omitempty"`
	Site   string `json:"site,omitempty"`
	Client string `json:"client,omitempty"`
	For    string `json:"for,omitempty"`
}

func (s *Server) allowOf(w http.ResponseWriter, r *http.Request) (AllowAction, bool) {
	var ar AllowRequest
	if !decode(w, r, &ar) {
		return AllowAction{}, false
	}
	a := AllowAction{Host: cleanHost(ar.Host), Site: cleanHost(ar.Site)}
	if (a.Host == "") == (a.Site == "") {
		apiError(w, http.StatusBadRequest, "give a host or a site")
		return a, false
	}
	if ar.Client != "" {
		ip, err := netip.ParseAddr(ar.Client)
		if err != nil {
			apiError(w, http.StatusBadRequest, "client: want an IP address")
			return a, false
		}
		a.Client = ip.String()
	}
	if ar.For != "" {
		d, err := time.ParseDuration(ar.For)
		if err != nil || d <= 0 {
			apiError(w, http.StatusBadRequest, "for: want a positive duration such as 1h")
			return a, false
		}
		a.For = d
	}
	return a, true
}

func (s *Server) apiAllow(w http.ResponseWriter, r *http.Request) {
	if s.opts.Allow == nil {
		apiError(w, http.StatusNotFound, "allows are not available")
		return
	}
	a, ok := s.allowOf(w, r)
	if !ok {
		return
	}
	if err := s.opts.Allow(a); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.logger.Info("dashboard: allowed", "allow", a.String(), "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]string{"allowed": a.String()})
}

func (s *Server) apiUnallow(w http.ResponseWriter, r *http.Request) {
	if s.opts.Unallow == nil {
		apiError(w, http.StatusNotFound, "unallow is not available")
		return
	}
	a, ok := s.allowOf(w, r)
	if !ok {
		return
	}
	n, err := s.opts.Unallow(a)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"removed": n})
}
