package proxy

import (
	"net/netip"

	"github.com/pixelwall/pixelwall/blocklist"
)

// clientSettings are the options that a client's group may set, over the
// server's own.
type clientSettings struct {
	noHeuristic, noGPC, noLearn bool
	referer                     RefererPolicy
	intercept                   Intercept
}

// settingsFor applies the group of client under pol to the server's
// options. The config checked the group's values.
func (s *Server) settingsFor(pol *blocklist.Policy, client netip.Addr) clientSettings {
	cs := clientSettings{noHeuristic: s.opts.NoHeuristic, noGPC: s.opts.NoGPC, referer: s.opts.Referer, intercept: s.opts.Intercept}
	if pol == nil {
		return cs
	}
	g := pol.Group(client).Settings
	if g.Heuristic != nil {
		cs.noHeuristic = !*g.Heuristic
	}
	if g.GPC != nil {
		cs.noGPC = !*g.GPC
	}
	if g.Learn != nil {
		cs.noLearn = !*g.Learn
	}
	if g.Referer != "" {
		cs.referer = RefererPolicy(g.Referer)
	}
	if g.Intercept != "" {
		cs.intercept = Intercept(g.Intercept)
	}
	return cs
}

// emitPaused logs a request or CONNECT a pause let through.
func (s *Server) emitPaused(ev Event, d blocklist.Decision) {
	ev.Kind, ev.Rule, ev.List, ev.Response = KindPaused, d.Rule, d.List, ""
	s.emit(ev)
}
