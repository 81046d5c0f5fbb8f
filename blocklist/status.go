package blocklist

import (
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// ListState is how a configured list stands.
type ListState uint8

// List states. Only StateOK means the list's current content is in use and
// up to date.
const (
	StateOK              ListState = iota // loaded; its last check succeeded
	StateStale                            // loaded, but not refreshed for longer than it should be
	StateFailed                           // the last download or read failed; a previous copy may serve
	StateMissing                          // a local file that does not exist
	StateNeverDownloaded                  // a URL list with no copy and no attempt yet
)

var stateNames = [...]string{"ok", "stale", "failed", "missing", "never-downloaded"}

func (s ListState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("ListState(%d)", uint8(s))
}

// MarshalText writes the state's name.
func (s ListState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name, as String writes it.
func (s *ListState) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if string(b) == n {
			*s = ListState(i)
			return nil
		}
	}
	return fmt.Errorf("unknown list state %q (want one of ok, stale, failed, missing, never-downloaded)", b)
}

// Healthy reports whether the state needs no attention.
func (s ListState) Healthy() bool { return s == StateOK }

// ListStatus is the health of one configured list, for the dashboard,
// `lists show` and metrics.
type ListStatus struct {
	Name   string
	Source string // the URL, the file, "embedded" or "config"
	Format string // adblock, hosts, domains; "" when never loaded
	State  ListState
	// Reason says, in words, why State is not StateOK; "" when it is.
	Reason string
	// Rules is how many rules of the list are in use; BadLines how many of
	// its lines could not be parsed, FirstBad the first few of them.
	Rules    int
	BadLines int
	FirstBad []string
	// Updated is when the content in use was stored; Checked when the
	// source was last asked.
	Updated, Checked time.Time
	// LastSuccess and LastFailure are the last successful and failed
	// checks; Failures counts failed checks since the last success.
	LastSuccess, LastFailure time.Time
	Failures                 int
}

// SetStats fills the counts from the compiled list.
func (s *ListStatus) SetStats(st ListStats) {
	s.Format = st.Format.String()
	s.Rules = st.Rules()
	s.BadLines = st.BadCount
	s.FirstBad = s.FirstBad[:0]
	for i, b := range st.Bad {
		if i == 3 {
			break
		}
		s.FirstBad = append(s.FirstBad, b.String())
	}
}

// URLListStatus is the status of a downloaded list, from what the Fetcher
// remembers of it (meta and ok as Fetcher.Meta returns them). A list whose
// last success is older than staleAfter is stale; 0 means never.
func URLListStatus(name, url string, meta FetchMeta, ok bool, staleAfter time.Duration, now time.Time) ListStatus {
	s := ListStatus{Name: name, Source: url, State: StateOK}
	if !ok {
		s.State, s.Reason = StateNeverDownloaded, "not downloaded yet; the embedded lists serve meanwhile"
		return s
	}
	s.Rules, s.BadLines = meta.Rules, meta.BadLines
	s.Updated, s.Checked = meta.Updated, meta.Checked
	s.LastSuccess, s.LastFailure, s.Failures = meta.LastSuccess, meta.LastFailure, meta.Failures
	if s.LastSuccess.IsZero() {
		s.LastSuccess = meta.Updated // metadata written before successes were recorded
	}
	switch {
	case meta.LastError != "" && meta.Updated.IsZero():
		s.State, s.Reason = StateFailed, meta.LastError+"; there is no copy yet, the embedded lists serve meanwhile"
	case meta.LastError != "":
		s.State, s.Reason = StateFailed, meta.LastError+"; the copy from "+meta.Updated.Local().Format("2006-01-02 15:04")+" stays in use"
	case meta.Updated.IsZero():
		s.State, s.Reason = StateNeverDownloaded, "not downloaded yet; the embedded lists serve meanwhile"
	case staleAfter > 0 && now.Sub(s.LastSuccess) > staleAfter:
		s.State, s.Reason = StateStale, "not refreshed since "+s.LastSuccess.Local().Format("2006-01-02 15:04")
	}
	return s
}

// FileListStatus is the status of a local list file given the error
// reading it (nil when it loaded), checked at now.
func FileListStatus(name, path string, readErr error, now time.Time) ListStatus {
	s := ListStatus{Name: name, Source: path, State: StateOK, Checked: now}
	switch {
	case readErr == nil:
		s.LastSuccess = now
	case errors.Is(readErr, fs.ErrNotExist):
		s.State, s.Reason, s.LastFailure, s.Failures = StateMissing, "the file "+path+" does not exist", now, 1
	default:
		s.State, s.Reason, s.LastFailure, s.Failures = StateFailed, readErr.Error(), now, 1
	}
	return s
}
