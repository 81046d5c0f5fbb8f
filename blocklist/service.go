package blocklist

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ListConfig is one configured list: downloaded from URL or read from Path.
type ListConfig struct {
	Name   string
	URL    string
	Path   string
	Format Format
	// Refresh is how often a URL list is checked; zero: the list's own
	// "! Expires:" hint, else DefaultRefresh.
	Refresh time.Duration
}

// DefaultRefresh is how often a URL list without its own hint is checked.
const DefaultRefresh = 24 * time.Hour

// Config is what the lists service compiles: the embedded lists (unless
// NoDefaults), the configured lists, extra list files, and the config's
// allow and deny entries (hostnames, each covering its subdomains).
type Config struct {
	// Sources are lists given whole (tests, tools), compiled after the
	// embedded ones.
	Sources    []Source
	Lists      []ListConfig
	Extra      []string
	NoDefaults bool
	Allow      []string
	Deny       []string
	// Groups decide for their clients with their own lists and settings;
	// a group named DefaultGroup sets the default group's. Clients put
	// addresses and networks in groups (most specific network wins).
	Groups  []Group
	Clients []Client
}

// ServiceOptions configure a Service.
type ServiceOptions struct {
	// Dir is the data directory: downloaded lists are cached in Dir/lists
	// and permanent overrides kept in Dir/allow.jsonl. Empty: nothing is
	// cached or saved.
	Dir string
	// Client downloads lists; it should resolve through pixelwall's own
	// resolver. Default: the Fetcher's.
	Client *http.Client
	// Backoff is the wait before retry n of a failed download (tests
	// shorten it); default the Fetcher's.
	Backoff func(n int) time.Duration
	// AroundCompile, when set, runs every compile and the publishing of
	// its result: it must call compile once. After compile returns, the
	// previous lists are no longer referenced by the service. The process uses it to collect garbage harder meanwhile and to
	// size its memory limit after.
	AroundCompile func(compile func())
	Logger        *slog.Logger
	Now           func() time.Time
}

// Service owns what is blocked right now: the list sources, their download
// and refresh schedule, compiling, per-list status and the user's overrides.
// It publishes them together as one immutable Policy; readers take the
// current one with Policy and never keep it past a request. Safe for
// concurrent use.
type Service struct {
	opts      ServiceOptions
	fetcher   *Fetcher
	overrides *Overrides
	pauses    *pauses

	policy atomic.Pointer[Policy]
	gen    atomic.Uint64

	mu       sync.Mutex // serialises compiles and publishes
	cfg      Config
	m        *Matcher // every list; groups share it and its lists
	groups   []*groupPolicy
	clients  clientTable
	learned  *Matcher
	denied   map[string]bool   // the user's blocks, saved in Dir/deny.txt
	problems map[string]string // list name → why it did not load

	refresh chan struct{}
}

// NewService compiles cfg and loads the saved overrides. A list that cannot
// be read is reported in Status and left out; the others still load.
func NewService(cfg Config, opts ServiceOptions) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{opts: opts, overrides: &Overrides{Now: opts.Now}, pauses: &pauses{now: opts.Now}, refresh: make(chan struct{}, 1)}
	s.fetcher = &Fetcher{Dir: filepath.Join(opts.Dir, "lists"), Client: opts.Client, Backoff: opts.Backoff, Now: opts.Now}
	var err error
	if opts.Dir != "" {
		if err = s.overrides.Load(s.overridesPath()); err != nil {
			err = fmt.Errorf("saved allows: %w", err)
		}
		if derr := s.loadDenied(); derr != nil {
			err = errors.Join(err, fmt.Errorf("saved blocks: %w", derr))
		}
		s.pauses.path = filepath.Join(opts.Dir, "pauses.json")
		if perr := s.pauses.load(); perr != nil {
			err = errors.Join(err, fmt.Errorf("saved pauses: %w", perr))
		}
	}
	s.Reload(cfg)
	return s, err
}

func (s *Service) overridesPath() string { return filepath.Join(s.opts.Dir, "allow.jsonl") }

// Policy is what is blocked right now.
func (s *Service) Policy() *Policy { return s.policy.Load() }

// Config is the configuration in use.
func (s *Service) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Reload compiles cfg and publishes it; requests in flight finish with the
// policy they started with.
func (s *Service) Reload(cfg Config) {
	srcs, problems := s.sources(cfg)
	for name, why := range problems {
		s.opts.Logger.Warn("list not loaded", "list", name, "reason", why)
	}
	start := s.opts.Now()
	var m *Matcher
	build := func() {
		m = Compile(srcs...)
		groups, index := compileGroups(cfg, srcs, m, func(s []Source) *Matcher { return Compile(s...) })
		s.mu.Lock()
		s.cfg, s.m, s.groups, s.clients, s.problems = cfg, m, groups, newClientTable(cfg.Clients, index), problems
		s.publishLocked()
		s.mu.Unlock()
	}
	if s.opts.AroundCompile != nil {
		s.opts.AroundCompile(build)
	} else {
		build()
	}
	rules := 0
	for _, st := range m.Lists() {
		rules += st.Rules()
		if st.BadCount > 0 {
			first := ""
			if len(st.Bad) > 0 {
				first = st.Bad[0].String()
			}
			s.opts.Logger.Warn("list has bad lines (skipped; the rest loaded)", "list", st.Name, "bad", st.BadCount, "first", first)
		}
	}
	s.opts.Logger.Info("lists compiled", "lists", len(m.Lists()), "rules", rules, "took", s.opts.Now().Sub(start).Round(time.Millisecond))
}

// publishLocked makes the current matchers, overrides and pauses the
// Policy.
func (s *Service) publishLocked() {
	s.policy.Store(&Policy{gen: s.gen.Add(1), groups: s.groups, clients: s.clients, clientList: s.cfg.Clients,
		learned: s.learned, denied: s.denied, overrides: indexOverrides(s.overrides.List()), pauses: s.pauses.current(), now: s.opts.Now})
}

// ConfigAllowListName is the list the config's allow entries are reported
// under.
const ConfigAllowListName = "allow"

// configAllows are the config's allow entries as overrides for everyone.
func configAllows(hosts []string) []Override {
	out := make([]Override, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, Override{Host: strings.TrimSuffix(lowerHost(h), "."), List: ConfigAllowListName})
	}
	return out
}

// SetLearned publishes the rules learned from the pixel heuristic (a
// Learner's matcher, from its OnChange) with the lists.
func (s *Service) SetLearned(m *Matcher) {
	s.mu.Lock()
	s.learned = m
	s.publishLocked()
	s.mu.Unlock()
}

// sources gathers the lists cfg names, with why each missing one is missing.
func (s *Service) sources(cfg Config) ([]Source, map[string]string) {
	var srcs []Source
	problems := make(map[string]string)
	if !cfg.NoDefaults {
		srcs = append(srcs, Defaults()...)
	}
	srcs = append(srcs, cfg.Sources...)
	for _, l := range cfg.Lists {
		path := l.Path
		if l.URL != "" {
			path = s.fetcher.Path(l.Name)
		}
		src, err := ReadFile(l.Name, l.Format, path)
		switch {
		case err == nil:
			srcs = append(srcs, src)
		case l.URL != "" && errors.Is(err, fs.ErrNotExist):
			why := "not downloaded yet; the embedded lists serve until it arrives"
			if meta, ok := s.fetcher.Meta(l.Name); ok && meta.LastError != "" {
				why = "no copy yet: " + meta.LastError
			}
			problems[l.Name] = why
		default:
			problems[l.Name] = err.Error()
		}
	}
	for _, path := range cfg.Extra {
		src, err := ReadFile(baseName(path), FormatAuto, path)
		if err != nil {
			problems[baseName(path)] = err.Error()
			continue
		}
		srcs = append(srcs, src)
	}
	if len(cfg.Deny) > 0 {
		srcs = append(srcs, Source{Name: ConfigDenyListName, Format: FormatDomains, Text: strings.Join(cfg.Deny, "\n")})
	}
	return srcs, problems
}

// ReadFile reads a list file, bounded as downloads are (ReadListFile).
func ReadFile(name string, format Format, path string) (Source, error) {
	return ReadListFile(name, format, path, 0)
}

// Allow adds an override and publishes it at once; a permanent one (Until
// zero) is saved in the data directory.
func (s *Service) Allow(ov Override) error {
	if err := s.overrides.Add(ov); err != nil {
		return err
	}
	s.mu.Lock()
	s.publishLocked()
	s.mu.Unlock()
	if ov.Until.IsZero() && s.opts.Dir != "" {
		return s.overrides.Save(s.overridesPath())
	}
	return nil
}

// Deny blocks host and its subdomains for everyone (the dashboard's "block
// this host"), at once and, with a data directory, from then on.
func (s *Service) Deny(host string) error {
	host = strings.TrimSuffix(lowerHost(host), ".")
	if !validHostname(host) {
		return fmt.Errorf("%q is not a host name", host)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied[host] {
		return nil
	}
	denied := make(map[string]bool, len(s.denied)+1)
	for h := range s.denied {
		denied[h] = true
	}
	denied[host] = true
	if s.opts.Dir != "" {
		if err := writeAtomic(s.deniedPath(), []byte(strings.Join(slices.Sorted(maps.Keys(denied)), "\n")+"\n")); err != nil {
			return err
		}
	}
	s.denied = denied
	s.publishLocked()
	return nil
}

func (s *Service) deniedPath() string { return filepath.Join(s.opts.Dir, "deny.txt") }

// loadDenied reads the saved blocks; a missing file is none.
func (s *Service) loadDenied() error {
	src, err := ReadListFile(UserDenyListName, FormatDomains, s.deniedPath(), 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	denied := make(map[string]bool)
	for _, line := range strings.Split(src.Text, "\n") {
		if h := strings.TrimSpace(line); h != "" && validHostname(h) {
			denied[h] = true
		}
	}
	s.denied = denied
	return nil
}

// Unallow removes the overrides for exactly host or site (one client's, or
// everyone's when client is zero) and reports how many it removed.
func (s *Service) Unallow(host, site string, client netip.Addr) (int, error) {
	n := s.overrides.Remove(host, site, client)
	if n == 0 {
		return 0, nil
	}
	s.mu.Lock()
	s.publishLocked()
	s.mu.Unlock()
	if s.opts.Dir != "" {
		return n, s.overrides.Save(s.overridesPath())
	}
	return n, nil
}

// Update downloads every URL list now (conditionally: an unchanged list
// costs a 304) and recompiles when one changed.
func (s *Service) Update(ctx context.Context) []FetchResult {
	cfg := s.Config()
	var out []FetchResult
	changed := false
	for _, l := range cfg.Lists {
		if l.URL == "" {
			continue
		}
		r := s.fetcher.Fetch(ctx, l.Name, l.URL, l.Format)
		out = append(out, r)
		changed = changed || r.Status == FetchUpdated
	}
	if changed {
		s.Reload(cfg)
	}
	return out
}

// RefreshNow asks Run to check every URL list at once.
func (s *Service) RefreshNow() {
	for _, l := range s.Config().Lists {
		if l.URL != "" {
			s.fetcher.MarkDue(l.Name)
		}
	}
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// Run checks URL lists on their schedule, and when RefreshNow asks,
// recompiling when one changed, until ctx is done. A failed download keeps
// the last good copy and is tried again within 30 minutes.
func (s *Service) Run(ctx context.Context) {
	for {
		wait := s.refreshDue(ctx)
		if ctx.Err() != nil {
			return
		}
		t := time.NewTimer(max(wait, time.Minute))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.refresh:
			t.Stop()
		}
	}
}

// refreshDue fetches the lists that are due and says how long until the
// next one is.
func (s *Service) refreshDue(ctx context.Context) time.Duration {
	cfg := s.Config()
	wait := DefaultRefresh
	changed := false
	for _, l := range cfg.Lists {
		if l.URL == "" {
			continue
		}
		meta, ok := s.fetcher.Meta(l.Name)
		if due := meta.Checked.Add(refreshEvery(l, meta)); ok && s.opts.Now().Before(due) {
			wait = min(wait, due.Sub(s.opts.Now()))
			continue
		}
		r := s.fetcher.Fetch(ctx, l.Name, l.URL, l.Format)
		if ctx.Err() != nil {
			return 0
		}
		if r.Err != nil {
			msg := "list update failed; the last good copy stays"
			if _, err := os.Stat(s.fetcher.Path(l.Name)); err != nil {
				msg = "list download failed; there is no copy yet"
			}
			s.opts.Logger.Warn(msg, "list", l.Name, "err", r.Err)
			wait = min(wait, 30*time.Minute)
		} else {
			s.opts.Logger.Info("list checked", "list", l.Name, "status", r.Status, "rules", r.Meta.Rules, "took", r.Took.Round(time.Millisecond))
			wait = min(wait, refreshEvery(l, r.Meta))
		}
		changed = changed || r.Status == FetchUpdated
	}
	if changed {
		s.Reload(cfg)
	}
	return wait
}

// refreshEvery is how often a list is checked.
func refreshEvery(l ListConfig, meta FetchMeta) time.Duration {
	switch {
	case l.Refresh > 0:
		return l.Refresh
	case meta.Expires > 0:
		return meta.Expires
	}
	return DefaultRefresh
}
