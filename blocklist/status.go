package blocklist

import (
	"fmt"
	"strings"
	"time"
)

// ListState is the health of one configured list.
type ListState uint8

const (
	ListOK           ListState = iota // loaded, and its last check succeeded
	ListStale                         // loaded from the last good copy; the last check failed
	ListFailed                        // not loaded: every download failed
	ListMissing                       // not loaded: the local file cannot be read
	ListNeverFetched                  // not loaded: not downloaded yet
)

var listStateNames = [...]string{"ok", "stale", "failed", "missing", "never downloaded"}

func (s ListState) String() string {
	if int(s) < len(listStateNames) {
		return listStateNames[s]
	}
	return "unknown"
}

// MarshalText writes the state's name.
func (s ListState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name.
func (s *ListState) UnmarshalText(b []byte) error {
	for i, n := range listStateNames {
		if string(b) == n {
			*s = ListState(i)
			return nil
		}
	}
	return fmt.Errorf("unknown list state %q (want one of: %s)", b, strings.Join(listStateNames[:], ", "))
}

// ListStatus is what is known of one list: where it comes from, its health
// and why, what it holds, and for URL lists the download record.
type ListStatus struct {
	Name   string
	Source string // the URL, the path, or "embedded"
	State  ListState
	Reason string // why the state is not ok
	// Stats is what the list held when compiled (zero when not loaded).
	Stats ListStats
	// Meta is the download record of a URL list, and NextCheck when it is
	// due to be checked again.
	Meta      FetchMeta
	NextCheck time.Time
}
