package dashboard

import (
	"net/http"
	"strings"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// listView is one row of the lists page.
type listView struct {
	Name, Source, Format string
	State                blocklist.ListState
	StateClass           string // the state badge's class
	Reason               string
	Rules, BadLines      int
	FirstBad             []string // the first few bad lines
	// Failures counts the failed checks since the last success.
	Failures                      int
	UpdatedAgo, UpdatedAt         string
	LastSuccessAgo, LastSuccessAt string
	LastFailureAgo, LastFailureAt string
}

// listsView is the lists page.
type listsView struct {
	base
	Available bool
	Lists     []listView
	Rules     int
	Failing   int
	// Learning says whether learned rules are reported; Learned are they.
	Learning   bool
	CanUnlearn bool
	Learned    []learnedView
}

// stateClass is the badge class of a list state.
func stateClass(st blocklist.ListState) string {
	switch st {
	case blocklist.ListOK:
		return "k-pass"
	case blocklist.ListStale, blocklist.ListNeverFetched:
		return "k-heur"
	}
	return "k-block"
}

// failing reports whether a list needs the user's attention: its last
// check failed, or it is not loaded for a reason other than not having
// been downloaded yet.
func failing(st blocklist.ListState) bool {
	return st == blocklist.ListStale || st == blocklist.ListFailed || st == blocklist.ListMissing
}

// newListView prepares a list's status for the lists page.
func newListView(l blocklist.ListStatus, now time.Time) listView {
	m := l.Meta
	v := listView{Name: l.Name, Source: l.Source, State: l.State, StateClass: stateClass(l.State), Reason: l.Reason,
		Rules: l.Stats.Rules(), BadLines: l.Stats.BadCount, Failures: m.Failures}
	if l.Stats.Name != "" {
		v.Format = l.Stats.Format.String()
	}
	for i, b := range l.Stats.Bad {
		if i == 3 {
			break
		}
		v.FirstBad = append(v.FirstBad, b.String())
	}
	success := m.LastSuccess
	if success.IsZero() {
		success = m.Updated // metadata written before successes were recorded
	}
	if !m.Updated.IsZero() {
		v.UpdatedAgo, v.UpdatedAt = ago(now, m.Updated), absTime(m.Updated)
	}
	if !success.IsZero() {
		v.LastSuccessAgo, v.LastSuccessAt = ago(now, success), absTime(success)
	}
	if !m.LastFailure.IsZero() {
		v.LastFailureAgo, v.LastFailureAt = ago(now, m.LastFailure), absTime(m.LastFailure)
	}
	return v
}

// lists serves GET /lists: every configured list with its state, the
// reason when it is not ok, and its counts.
func (s *Server) lists(w http.ResponseWriter, r *http.Request) {
	v := listsView{Available: s.opts.Lists != nil}
	if s.opts.Lists != nil {
		now := s.now()
		for _, l := range s.opts.Lists() {
			lv := newListView(l, now)
			v.Rules += lv.Rules
			if failing(l.State) {
				v.Failing++
			}
			v.Lists = append(v.Lists, lv)
		}
	}
	if s.opts.Learned != nil {
		now := s.now()
		v.Learning, v.CanUnlearn = true, s.opts.Unlearn != nil
		for _, lr := range s.opts.Learned() {
			v.Learned = append(v.Learned, learnedView{LearnedRule: lr,
				LearnedAgo: ago(now, lr.Learned), LearnedAt: absTime(lr.Learned),
				LastUsedAgo: ago(now, lr.LastUsed), LastUsedAt: absTime(lr.LastUsed)})
		}
	}
	v.base = s.base(w, r, "Lists", "lists")
	s.render(w, r, http.StatusOK, "lists", v)
}

// setupSteps are the first steps the empty overview shows.
type setupSteps struct {
	Proxy string // host:port, "" when unknown
	PAC   string // the PAC file's URL
	CA    string // the CA page's URL
}

// setup is the first steps, with the proxy's address when known.
func (s *Server) setup() *setupSteps {
	host := s.opts.Proxy
	if host == "" {
		host = "pixelwall.internal" // answered by the proxy once it is set
	}
	return &setupSteps{Proxy: s.opts.Proxy, PAC: "http://" + host + "/proxy.pac", CA: "http://" + host + "/"}
}

// block serves POST /block (ServeHTTP checked the origin and the CSRF
// token): it denies a host and goes back with a flash message.
func (s *Server) block(w http.ResponseWriter, r *http.Request) {
	if s.opts.Block == nil {
		http.NotFound(w, r)
		return
	}
	back := backTarget(r.PostForm.Get("back"))
	a := BlockAction{Host: cleanHost(r.PostForm.Get("host"))}
	if a.Host == "" || !strings.Contains(a.Host, ".") && !strings.Contains(a.Host, ":") {
		http.Error(w, "Bad host.", http.StatusBadRequest)
		return
	}
	if err := s.opts.Block(a); err != nil {
		s.logger.Error("dashboard: block failed", "host", a.Host, "err", err)
		s.setFlash(w, r, flash{Kind: "error", Msg: "Could not block " + a.Host + ": " + err.Error()})
	} else {
		s.logger.Info("dashboard: blocked", "host", a.Host, "remote", r.RemoteAddr)
		s.setFlash(w, r, flash{Kind: "ok", Msg: "blocked " + a.Host + " and its subdomains for all clients"})
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
