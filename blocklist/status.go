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

// Status reports every list of the configuration in use, the embedded ones
// first, loaded or not.
func (s *Service) Status() []ListStatus {
	s.mu.Lock()
	cfg, m, problems := s.cfg, s.m, s.problems
	s.mu.Unlock()
	loaded := make(map[string]ListStats)
	for _, st := range m.Lists() {
		loaded[st.Name] = st
	}
	var out []ListStatus
	if !cfg.NoDefaults {
		for _, src := range Defaults() {
			out = append(out, ListStatus{Name: src.Name, Source: "embedded", Stats: loaded[src.Name]})
		}
	}
	for _, l := range cfg.Lists {
		st := ListStatus{Name: l.Name, Source: l.Path, Stats: loaded[l.Name]}
		_, ok := loaded[l.Name]
		if l.URL != "" {
			st.Source = l.URL
			st.Meta, _ = s.fetcher.Meta(l.Name)
			st.NextCheck = st.Meta.Checked.Add(refreshEvery(l, st.Meta))
		}
		switch {
		case ok && st.Meta.LastError != "":
			st.State, st.Reason = ListStale, "the last download failed ("+st.Meta.LastError+"); the last good copy serves"
		case ok:
			st.State = ListOK
		case l.URL == "":
			st.State, st.Reason = ListMissing, problems[l.Name]
		case st.Meta.LastError != "":
			st.State, st.Reason = ListFailed, st.Meta.LastError
		default:
			st.State, st.Reason = ListNeverFetched, problems[l.Name]
		}
		out = append(out, st)
	}
	for _, path := range cfg.Extra {
		name := baseName(path)
		st := ListStatus{Name: name, Source: path, Stats: loaded[name]}
		if _, ok := loaded[name]; !ok {
			st.State, st.Reason = ListMissing, problems[name]
		}
		out = append(out, st)
	}
	return out
}

// Problems are the lists that did not load, with why: empty when all did.
func (s *Service) Problems() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.problems))
	for k, v := range s.problems {
		out[k] = v
	}
	return out
}

func baseName(path string) string { return path[strings.LastIndexAny(path, `/\`)+1:] }
