package dashboard

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// entryTable is a table of log entries, with allow and block forms.
type entryTable struct {
	Entries []entryView
	Back    string // the page to come back to after an allow or a block
	// CanAct shows the actions column: allows or blocks are wired.
	CanAct bool
}

// entryView is an entry as a table row shows it.
type entryView struct {
	blocklog.Entry
	Ago       string // "3 min ago"
	At        string // absolute time
	Allowable bool   // shows an allow form
	Blockable bool   // shows a "block this host" form
	// Why explains a decision no rule made ("1×1 image from another
	// site"); "" when Rule says it.
	Why string
	// Name is the client's configured name; "" when unnamed.
	Name string
}

// allowable reports whether an allow would let e's request through
// next time: it was blocked and has a host.
func allowable(e blocklog.Entry) bool {
	return e.Host != "" && slices.Contains(trackerKinds, e.Kind)
}

// blockable reports whether "block this host" makes sense for e: a guess
// (heuristic or learned) caught one request, and a rule would catch them
// all, DNS included.
func blockable(e blocklog.Entry) bool {
	return e.Host != "" && (e.Kind == "heuristic" || e.Kind == "learned")
}

// entryTable prepares entries for a table. Consecutive refused CONNECTs
// from one client to one host (a browser retrying) become one row.
func (s *Server) entryTable(entries []blocklog.Entry, now time.Time, back string) entryTable {
	views := make([]entryView, 0, len(entries))
	for _, e := range entries {
		if n := len(views); n > 0 && e.Kind == "connect-refused" {
			prev := &views[n-1]
			if prev.Kind == e.Kind && prev.Client == e.Client && prev.Host == e.Host && prev.Layer == e.Layer &&
				prev.Time.Sub(e.Time) < time.Minute {
				prev.Count += max(e.Count, 1)
				continue
			}
		}
		if e.Count < 1 {
			e.Count = 1
		}
		views = append(views, entryView{
			Entry:     e,
			Ago:       ago(now, e.Time),
			At:        absTime(e.Time),
			Allowable: s.opts.Allow != nil && allowable(e),
			Blockable: s.opts.Block != nil && blockable(e),
			Why:       explain(e),
			Name:      s.clientName(e.Client),
		})
	}
	return entryTable{Entries: views, Back: back, CanAct: s.opts.Allow != nil || s.opts.Block != nil}
}

var (
	sizeRE  = regexp.MustCompile(`^image is (\d+)×(\d+)`)
	bytesRE = regexp.MustCompile(`^image is (\d+) bytes and its URL carries an identifier`)
)

// explain says in a few words why an entry no rule decided was made.
func explain(e blocklog.Entry) string {
	if e.Rule != "" {
		return ""
	}
	switch e.Kind {
	case "heuristic":
		what := "tiny image"
		if m := sizeRE.FindStringSubmatch(e.Detail); m != nil {
			what = m[1] + "×" + m[2] + " image"
		} else if m := bytesRE.FindStringSubmatch(e.Detail); m != nil {
			what = m[1] + "-byte image with an identifier in its URL"
		}
		switch {
		case strings.Contains(e.Detail, "mail client"):
			return what + " in a mail client"
		case strings.Contains(e.Detail, "another site"), e.Source != "" && e.Source != e.Host:
			return what + " from another site"
		}
		return what
	case "learned":
		if e.Detail != "" {
			return "learned: " + e.Detail
		}
		return "learned: this host served tracking pixels before"
	case "unwrapped":
		return "redirect tracker skipped"
	case "referer":
		return "cross-site Referer " + e.Detail
	case "params-stripped":
		return "tracking parameters removed"
	case "pinned":
		return "the client rejected pixelwall's certificate: tunnelled from now on"
	}
	return ""
}
