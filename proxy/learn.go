package proxy

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/pixelwall/pixelwall/blocklist"
)

// Learner learns rules from what the response heuristic catches, so that
// the next pixels of a host and path shape are blocked before the tracker
// is contacted. blocklist.Learner is one. Implementations must be safe for
// concurrent use.
type Learner interface {
	// Observe records a heuristic catch of a tiny image at rawURL on host,
	// of request type t. It returns the rule learned from this catch, if
	// one was.
	Observe(host, rawURL string, t blocklist.Type, now time.Time) (rule string, learned bool)
	// Match decides on req with the learned rules alone: Block (with the
	// rule and list) or Pass. It must not modify req.
	Match(req *blocklist.Request) blocklist.Decision
	// Touch records that rule blocked a request at now.
	Touch(rule string, now time.Time)
}

// learnedBlock answers a request a learned rule blocks. The lists said
// Pass and no allow covers it: the caller checked.
func (s *Server) learnedBlock(r *http.Request, st *reqState, ev Event, d blocklist.Decision) *http.Response {
	st.answered = true
	now := s.now()
	s.opts.Learner.Touch(d.Rule, now)
	// The rule was learned from images the heuristic swapped for ours.
	d.Response = blocklist.ResponseGIF
	ev.Time, ev.Kind, ev.Rule, ev.List, ev.Response = now, KindBlocked, d.Rule, d.List, d.Response.String()
	ev.Detail = "learned rule: tiny images of this host and path shape were caught as tracking pixels before"
	s.emit(ev)
	return s.blockedResponse(r, d, ev.Host)
}

// learn tells the learner about a heuristic catch ev, unless an exception
// or an allow covers the request. It returns the rule learned from it, or
// "".
func (s *Server) learn(ctx *goproxy.ProxyCtx, st *reqState, ev Event) string {
	if s.opts.Learner == nil || st.excepted || st.settings.noLearn || s.userAllowed(clientIP(ctx.Req.RemoteAddr), ev.Host, st.source) {
		return ""
	}
	rule, _ := s.opts.Learner.Observe(ev.Host, ev.URL, st.typ, s.now())
	return rule
}

// emitLearned logs that the heuristic catch ev taught rule.
func (s *Server) emitLearned(ev Event, rule string) {
	ev.Kind, ev.Rule, ev.List, ev.Response, ev.Bytes = KindLearned, rule, blocklist.LearnedListName, "", 0
	ev.Detail = "tiny images of this host and path shape were caught again and again; learned rule " + rule +
		": the next ones are blocked before the tracker is contacted"
	s.emit(ev)
}

// userAllowed reports whether an override lets client's request through.
func (s *Server) userAllowed(client netip.Addr, host, source string) bool {
	_, ok := s.opts.Policy().Allowed(client, host, source)
	return ok
}
