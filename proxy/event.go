package proxy

import "time"

// Kind says what an Event records.
type Kind string

// Event kinds: every decision worth reviewing.
const (
	KindBlocked        Kind = "blocked"         // a request answered by us
	KindHeuristic      Kind = "heuristic"       // a tiny tracking image caught from its response
	KindLearned        Kind = "learned"         // a rule learned from heuristic catches (list "learned")
	KindParamsStripped Kind = "params-stripped" // tracking parameters removed
	KindReferer        Kind = "referer"         // cross-site Referer trimmed or removed
	KindUnwrapped      Kind = "unwrapped"       // redirect tracker skipped
	KindConnectRefused Kind = "connect-refused" // CONNECT to a blocked host
	KindPinned         Kind = "pinned"          // a client rejected our certificate: host tunnelled from now on
	KindAccessRefused  Kind = "access-refused"  // a client outside allow_clients
	// KindDestinationRefused is a request or CONNECT refused by the
	// destinations policy (loopback, this host, the admin listener,
	// deny_destinations, connect_ports); Detail says which.
	KindDestinationRefused Kind = "destination-refused"
	// KindRateLimited is a refusal beyond its source's logging budget:
	// loggers count it and do not store it. Detail is the refusal's kind.
	KindRateLimited Kind = "rate-limited"
	// KindPassed is every request forwarded upstream, for totals and for
	// users who log allowed requests too.
	KindPassed Kind = "passed"
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
