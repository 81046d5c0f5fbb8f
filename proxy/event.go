package proxy

import (
	"time"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// Kind says what an Event records: the block log's kinds.
type Kind = blocklog.Kind

// Event kinds: every decision worth reviewing.
const (
	KindBlocked            = blocklog.KindBlocked
	KindHeuristic          = blocklog.KindHeuristic
	KindLearned            = blocklog.KindLearned
	KindParamsStripped     = blocklog.KindParamsStripped
	KindReferer            = blocklog.KindReferer
	KindUnwrapped          = blocklog.KindUnwrapped
	KindConnectRefused     = blocklog.KindConnectRefused
	KindPinned             = blocklog.KindPinned
	KindAccessRefused      = blocklog.KindAccessRefused
	KindDestinationRefused = blocklog.KindDestinationRefused
	KindRateLimited        = blocklog.KindRateLimited
	KindPaused             = blocklog.KindPaused
	KindPassed             = blocklog.KindPassed
)

// Event is one decision, for the block log. Query values in URL are the
// logger's to redact.
type Event struct {
	Time     time.Time
	Kind     Kind
	Client   string // client IP
	Method   string
	Host     string
	URL      string
	Type     string // request type (image, script, …)
	Source   string // the page's host, when known
	Rule     string
	List     string
	Response string   // the empty answer given, for blocks
	Removed  []string // parameter names stripped
	Detail   string   // free text: the unwrapped target, the heuristic's reason, …
	// CloakedBy is the tracker name found in the host's CNAME chain.
	CloakedBy string
	Bytes     int64 // bytes avoided, when known
}
