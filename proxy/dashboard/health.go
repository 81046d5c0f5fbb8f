package dashboard

import (
	"net/http"
	"strings"

	"github.com/pixelwall/pixelwall/blocklist"
)

// listView is one row of the lists page.
type listView struct {
	blocklist.ListStatus
	StateClass                    string // the state badge's class
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
}

// stateClass is the badge class of a list state.
func stateClass(st blocklist.ListState) string {
	switch st {
	case blocklist.StateOK:
		return "k-pass"
	case blocklist.StateStale, blocklist.StateNeverDownloaded:
		return "k-heur"
	}
	return "k-block"
}

// lists serves GET /lists: every configured list with its state, the
// reason when it is not ok, and its counts.
func (s *Server) lists(w http.ResponseWriter, r *http.Request) {
	v := listsView{Available: s.opts.Lists != nil}
	if s.opts.Lists != nil {
		now := s.now()
		for _, l := range s.opts.Lists() {
			lv := listView{ListStatus: l, StateClass: stateClass(l.State)}
			if !l.Updated.IsZero() {
				lv.UpdatedAgo, lv.UpdatedAt = ago(now, l.Updated), absTime(l.Updated)
			}
			if !l.LastSuccess.IsZero() {
				lv.LastSuccessAgo, lv.LastSuccessAt = ago(now, l.LastSuccess), absTime(l.LastSuccess)
			}
			if !l.LastFailure.IsZero() {
				lv.LastFailureAgo, lv.LastFailureAt = ago(now, l.LastFailure), absTime(l.LastFailure)
			}
			v.Rules += l.Rules
			if l.State == blocklist.StateFailed || l.State == blocklist.StateMissing {
				v.Failing++
			}
			v.Lists = append(v.Lists, lv)
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
