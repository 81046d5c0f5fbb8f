package blocklist

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"
)

// PauseScope says what a Pause covers.
type PauseScope string

// Pause scopes.
const (
	PauseAll    PauseScope = "all"    // every client
	PauseGroup  PauseScope = "group"  // the clients of the group Name
	PauseClient PauseScope = "client" // the client named Name (a configured name or an address)
	PauseSite   PauseScope = "site"   // requests to or from pages of the registrable domain Name
)

// UnmarshalText accepts the scope names; anything else is an error.
func (s *PauseScope) UnmarshalText(b []byte) error {
	switch v := PauseScope(b); v {
	case PauseAll, PauseGroup, PauseClient, PauseSite:
		*s = v
		return nil
	}
	return fmt.Errorf("unknown pause scope %q (all, group, client or site)", b)
}

// Pause lets through what the lists would block, for some clients or one
// site, until a time or until resumed.
type Pause struct {
	Scope PauseScope `json:"scope"`
	Name  string     `json:"name,omitempty"`
	Until time.Time  `json:"until,omitzero"` // zero: until resumed
	Added time.Time  `json:"added"`
}

// String describes the pause.
func (p Pause) String() string {
	s := "everything"
	if p.Scope != PauseAll {
		s = string(p.Scope) + " " + p.Name
	}
	if p.Until.IsZero() {
		return s + " until resumed"
	}
	return s + " until " + p.Until.UTC().Format(time.RFC3339)
}

// normalize checks p and puts its name in the form decisions compare: a
// site becomes its registrable domain.
func (p Pause) normalize() (Pause, error) {
	if err := p.Scope.UnmarshalText([]byte(p.Scope)); err != nil {
		return p, err
	}
	p.Name = strings.TrimSpace(p.Name)
	switch p.Scope {
	case PauseAll:
		p.Name = ""
	case PauseSite:
		host := strings.TrimSuffix(lowerHost(p.Name), ".")
		if _, err := NewRequest("http://"+host+"/", "", TypeOther); err != nil || host == "" || strings.ContainsAny(host, "/:?#* ") {
			return p, fmt.Errorf("pause: %q is not a site (a domain name)", p.Name)
		}
		if site, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
			host = site
		}
		p.Name = host
	default:
		if p.Name == "" {
			return p, fmt.Errorf("pause: a %s pause needs a name", p.Scope)
		}
		if a, err := netip.ParseAddr(p.Name); err == nil {
			p.Name = a.Unmap().String()
		}
	}
	return p, nil
}

// same reports whether p and q cover the same thing.
func (p Pause) same(q Pause) bool { return p.Scope == q.Scope && p.Name == q.Name }

// paused reports whether a pause in force covers client's request to host
// from a page on source.
func (p *Policy) paused(g *groupPolicy, client netip.Addr, host, source string, now time.Time) bool {
	for _, ps := range p.pauses {
		if !ps.Until.IsZero() && !now.Before(ps.Until) {
			continue
		}
		switch ps.Scope {
		case PauseAll:
			return true
		case PauseGroup:
			if ps.Name == g.name {
				return true
			}
		case PauseClient:
			c := client.Unmap()
			if ps.Name == c.String() || ps.Name == p.ClientName(c) {
				return true
			}
		case PauseSite:
			if underDomain(strings.TrimSuffix(host, "."), ps.Name) || source != "" && underDomain(source, ps.Name) {
				return true
			}
		}
	}
	return false
}

// Paused reports whether a pause in force covers client's request to host
// from a page on source (may be empty), for callers that block by other
// means than Decide (CNAME uncloaking).
func (p *Policy) Paused(client netip.Addr, host, source string) bool {
	return len(p.pauses) > 0 && p.paused(p.groupOf(client), client, host, source, p.now())
}

// Pauses are the pauses in force.
func (p *Policy) Pauses() []Pause {
	now := p.now()
	var out []Pause
	for _, ps := range p.pauses {
		if ps.Until.IsZero() || now.Before(ps.Until) {
			out = append(out, ps)
		}
	}
	return out
}

// pauses is a Service's set of pauses, saved as JSON in a file.
type pauses struct {
	mu   sync.Mutex
	list []Pause
	path string // empty: not saved
	now  func() time.Time
}

// load reads the saved pauses; a missing file is none.
func (ps *pauses) load() error {
	if ps.path == "" {
		return nil
	}
	b, err := os.ReadFile(ps.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var list []Pause
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("%s: %w", ps.path, err)
	}
	ps.mu.Lock()
	ps.list = list
	ps.mu.Unlock()
	return nil
}

// current are the pauses in force, expired ones dropped.
func (ps *pauses) current() []Pause {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	now := ps.now()
	ps.list = slices.DeleteFunc(ps.list, func(p Pause) bool { return !p.Until.IsZero() && !now.Before(p.Until) })
	return slices.Clone(ps.list)
}

// set adds p, replacing a pause of the same thing, and saves.
func (ps *pauses) set(p Pause) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.list = slices.DeleteFunc(ps.list, p.same)
	ps.list = append(ps.list, p)
	return ps.saveLocked()
}

// remove ends the pauses of the same thing as p (every pause for scope
// all with resumeAll) and saves; it reports how many it ended.
func (ps *pauses) remove(p Pause, resumeAll bool) (int, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	n := len(ps.list)
	ps.list = slices.DeleteFunc(ps.list, func(q Pause) bool { return resumeAll || q.same(p) })
	n -= len(ps.list)
	if n == 0 {
		return 0, nil
	}
	return n, ps.saveLocked()
}

func (ps *pauses) saveLocked() error {
	if ps.path == "" {
		return nil
	}
	b, err := json.Marshal(ps.list)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(ps.path), 0o700); err != nil {
		return err
	}
	tmp := ps.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, ps.path)
}

// Pause lets through what the lists would block for what p covers, until
// p.Until (zero: until Resume), at once; it replaces a pause of the same
// thing and is saved in the data directory. A group or client pause names
// a configured group, a configured client or an address.
func (s *Service) Pause(p Pause) (Pause, error) {
	p, err := p.normalize()
	if err != nil {
		return p, err
	}
	if p.Added.IsZero() {
		p.Added = s.opts.Now()
	}
	if !p.Until.IsZero() && !s.opts.Now().Before(p.Until) {
		return p, fmt.Errorf("pause: %s is already past", p.Until.Format(time.RFC3339))
	}
	if err := s.checkPauseName(p); err != nil {
		return p, err
	}
	err = s.pauses.set(p)
	s.mu.Lock()
	s.publishLocked()
	s.mu.Unlock()
	return p, err
}

// Resume ends the pause of what p covers (p.Until is ignored); a Resume of
// scope all ends every pause. It reports how many pauses it ended.
func (s *Service) Resume(p Pause) (int, error) {
	p, err := p.normalize()
	if err != nil {
		return 0, err
	}
	n, err := s.pauses.remove(p, p.Scope == PauseAll)
	if n > 0 {
		s.mu.Lock()
		s.publishLocked()
		s.mu.Unlock()
	}
	return n, err
}

// Pauses are the pauses in force.
func (s *Service) Pauses() []Pause { return s.pauses.current() }

// checkPauseName refuses a pause of a group or client the config does not
// know (an address is always a client).
func (s *Service) checkPauseName(p Pause) error {
	cfg := s.Config()
	switch p.Scope {
	case PauseGroup:
		if p.Name == DefaultGroup || slices.ContainsFunc(cfg.Groups, func(g Group) bool { return g.Name == p.Name }) {
			return nil
		}
		return fmt.Errorf("pause: no group %q in the config", p.Name)
	case PauseClient:
		if _, err := netip.ParseAddr(p.Name); err == nil {
			return nil
		}
		if slices.ContainsFunc(cfg.Clients, func(c Client) bool { return c.Name == p.Name }) {
			return nil
		}
		return fmt.Errorf("pause: no client %q in the config (give its name or an address)", p.Name)
	}
	return nil
}
