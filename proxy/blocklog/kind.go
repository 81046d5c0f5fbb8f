package blocklog

import (
	"fmt"
	"strings"
)

// Kind is what a log entry records: a decision of the proxy or the
// resolver. The proxy's and the resolver's events carry the same type, and
// `pixelwall logs -kind` takes the same words.
type Kind string

// The kinds of decision.
const (
	KindBlocked            Kind = "blocked"             // a request or query answered by pixelwall
	KindHeuristic          Kind = "heuristic"           // a tiny tracking image caught from its response
	KindLearned            Kind = "learned"             // a rule learned from heuristic catches
	KindParamsStripped     Kind = "params-stripped"     // tracking parameters removed
	KindReferer            Kind = "referer"             // a cross-site Referer trimmed or removed
	KindUnwrapped          Kind = "unwrapped"           // a redirect tracker skipped
	KindConnectRefused     Kind = "connect-refused"     // a CONNECT to a blocked host
	KindPinned             Kind = "pinned"              // a client rejected our certificate: host tunnelled
	KindAccessRefused      Kind = "access-refused"      // a proxy client outside allow_clients
	KindDestinationRefused Kind = "destination-refused" // a destination the client may not reach
	KindRefused            Kind = "refused"             // a DNS client outside allow_clients
	KindRateLimited        Kind = "rate-limited"        // beyond a rate: counted, not stored
	KindPaused             Kind = "paused"              // let through by a pause; the rule says what it would have done
	KindPassed             Kind = "passed"              // forwarded (stored with log_allowed)
)

// Kinds are every kind, in the order above.
func Kinds() []Kind {
	return []Kind{KindBlocked, KindHeuristic, KindLearned, KindParamsStripped, KindReferer, KindUnwrapped,
		KindConnectRefused, KindPinned, KindAccessRefused, KindDestinationRefused, KindRefused, KindRateLimited,
		KindPaused, KindPassed}
}

// UnmarshalText accepts the name of a kind.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, v := range Kinds() {
		if string(v) == string(b) {
			*k = v
			return nil
		}
	}
	names := make([]string, 0, len(Kinds()))
	for _, v := range Kinds() {
		names = append(names, string(v))
	}
	return fmt.Errorf("unknown kind %q (want one of: %s)", b, strings.Join(names, ", "))
}
