package dashboard

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/pixelwall/pixelwall/blocklist"
)

// pauseView is a pause on the Clients page.
type pauseView struct {
	Scope, Name, What string
	Left              string // time left; "" until resumed
}

// clientsView is the Clients page: pauses, a pause form, and the clients.
type clientsView struct {
	base
	CanPause bool
	Pauses   []pauseView
	Clients  []clientRow
}

type clientRow struct {
	ClientStats
	LastSeenAgo string
	Addresses   string
	LogClient   string // the address the log filter uses; "" when never seen
	Top         []topRow
}

// clientsPage shows the clients (configured and seen in the last 24 hours)
// and the pauses in force, with forms to pause and resume.
func (s *Server) clientsPage(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	stats, err := s.clientStats(r)
	if err != nil {
		s.errorPage(w, r, "count the clients", err)
		return
	}
	v := clientsView{CanPause: s.opts.Pauses.Pause != nil}
	if s.opts.Pauses.Pauses != nil {
		for _, p := range s.opts.Pauses.Pauses() {
			pv := pauseView{Scope: string(p.Scope), Name: p.Name, What: p.Name}
			if p.Scope == blocklist.PauseAll {
				pv.What = "everything"
			}
			if !p.Until.IsZero() {
				pv.Left = p.Until.Sub(now).Round(time.Second).String()
			}
			v.Pauses = append(v.Pauses, pv)
		}
	}
	for _, c := range stats {
		row := clientRow{ClientStats: c, Addresses: strings.Join(c.ClientInfo.Addresses, ", "), Top: topRows(c.Top, "host", "7d")}
		if len(c.Seen) > 0 {
			row.LogClient = c.Seen[0]
		}
		if !c.LastSeen.IsZero() {
			row.LastSeenAgo = ago(now, c.LastSeen)
		}
		v.Clients = append(v.Clients, row)
	}
	v.base = s.base(w, r, "Clients", "clients")
	s.render(w, r, http.StatusOK, "clients", v)
}

// pauseForm pauses (or, with action=resume, resumes) from the Clients page.
func (s *Server) pauseForm(w http.ResponseWriter, r *http.Request) {
	if s.opts.Pauses.Pause == nil || s.opts.Pauses.Resume == nil {
		http.NotFound(w, r)
		return
	}
	form := r.PostForm
	p := blocklist.Pause{Scope: blocklist.PauseScope(form.Get("scope")), Name: strings.TrimSpace(form.Get("name"))}
	if form.Get("action") == "resume" {
		n, err := s.opts.Pauses.Resume(p)
		if err != nil || n == 0 {
			s.setFlash(w, r, flash{Kind: "error", Msg: "Nothing to resume for " + p.Name})
		} else {
			s.setFlash(w, r, flash{Kind: "ok", Msg: "resumed blocking"})
		}
		http.Redirect(w, r, "/clients", http.StatusSeeOther)
		return
	}
	if f := form.Get("for"); f != "" && f != "resumed" {
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			http.Error(w, "Bad duration.", http.StatusBadRequest)
			return
		}
		p.Until = s.now().Add(d)
	}
	p, err := s.opts.Pauses.Pause(p)
	if err != nil {
		s.setFlash(w, r, flash{Kind: "error", Msg: "Could not pause: " + err.Error()})
	} else {
		s.logger.Info("dashboard: paused", "pause", p.String(), "remote", r.RemoteAddr)
		s.setFlash(w, r, flash{Kind: "ok", Msg: "paused " + p.String()})
	}
	http.Redirect(w, r, "/clients", http.StatusSeeOther)
}

// clientName is the configured name of the client address a, or "".
func (s *Server) clientName(a string) string {
	if s.opts.ClientName == nil || a == "" {
		return ""
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return ""
	}
	return s.opts.ClientName(ip)
}

// logClient is the log's client value for the log page's client filter:
// a configured client's name stands for its address when it has one.
func (s *Server) logClient(client string) string {
	if addrs := s.clientAddrs(client); len(addrs) == 1 {
		return addrs[0]
	}
	return client
}
