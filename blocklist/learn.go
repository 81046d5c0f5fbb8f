package blocklist

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixelwall/pixelwall/blocklist/lru"
)

// LearnedListName is the list name of the rules a Learner learned: the
// name decisions, logs and list reports give them.
const LearnedListName = "learned"

// Learner defaults.
const (
	DefaultLearnTTL      = 30 * 24 * time.Hour
	DefaultLearnHits     = 3
	DefaultLearnURLs     = 2
	DefaultMaxCandidates = 4096
	DefaultMaxLearned    = 1000
	// touchSaveEvery is how stale the saved last-used times may get: a
	// block does not cost a file write.
	touchSaveEvery = time.Hour
)

// LearnerOptions configure NewLearner. Zero values mean the defaults.
type LearnerOptions struct {
	// Path is the file the learned rules persist in (learned.json in the
	// data dir); "" keeps them in memory only.
	Path string
	// TTL: a learned rule that has blocked nothing for this long is
	// forgotten. Default DefaultLearnTTL.
	TTL time.Duration
	// MinHits heuristic hits from MinURLs distinct URLs of one host and
	// path shape make a rule. Defaults DefaultLearnHits, DefaultLearnURLs.
	MinHits, MinURLs int
	// MaxCandidates bounds the host and path shapes tracked before they
	// are learned (the least recently seen is dropped); MaxRules bounds the
	// learned rules (the least recently used is dropped).
	MaxCandidates, MaxRules int
	// Allowed reports whether the user allowed a host (dashboard allows,
	// config allow:). Such a host is never learned, and a rule learned for
	// it stops applying while it is allowed. Nil: no host is.
	Allowed func(host string) bool
	// Now is the clock of the calls that take no time; default time.Now.
	Now func() time.Time
	// Logger receives failures to save the rules; default: discard.
	Logger *slog.Logger
	// OnChange, when set, is called with the new matcher each time the
	// learned rules change (learned, unlearned, expired), after the
	// Learner's lock is released: a holder of a snapshot of all lists
	// republishes it. It may call the Learner.
	OnChange func(*Matcher)
}

// LearnedRule is a rule learned from the heuristic, as Rules reports it
// and learned.json stores it.
type LearnedRule struct {
	Rule     string    `json:"rule"`
	Host     string    `json:"host"`
	Learned  time.Time `json:"learned"`   // when it was learned
	LastUsed time.Time `json:"last_used"` // when it last blocked (or was learned)
	Hits     int64     `json:"hits"`      // requests it blocked
	Example  string    `json:"example"`   // a URL it was learned from, query values removed
}

// Learner learns Adblock rules from what the proxy's response heuristic
// catches: when tiny images from one host and path shape (the path with
// its identifiers wildcarded, the query's parameter names without their
// values) are caught MinHits times from MinURLs distinct URLs, it adds a
// rule such as "||t.news.brand.example/o/*$image" so the next ones are
// blocked before the tracker is contacted.
//
// A rule is never learned for a whole host, nor for a shape with no
// identifier in it, nor for a host the user allowed. Learned rules are
// published as a small compiled Matcher (immutable, replaced whole on every
// change) and as a Source named LearnedListName. Safe for concurrent use.
type Learner struct {
	opts LearnerOptions
	seed maphash.Seed

	mu    sync.Mutex
	cands *lru.Cache[string, *candidate] // by rule pattern
	rules map[string]*LearnedRule        // by rule text
	saved time.Time                      // when rules were last written

	matcher atomic.Pointer[Matcher]
	// active is how many rules the matcher holds: with none, Match costs
	// nothing.
	active atomic.Int32
	// changed says a rebuild has not been announced to OnChange yet.
	changed atomic.Bool
}

// candidate is a host and path shape the heuristic has caught, not yet
// learned.
type candidate struct {
	hits  int
	urls  []uint64 // hashes of distinct URLs, up to MinURLs
	types Type
	first time.Time
}

// NewLearner returns a Learner with the rules saved at opts.Path. When the
// file cannot be used the error names it; the file is then kept aside as
// Path+".bad" and the Learner, still returned and usable, starts with the
// rules it could read.
func NewLearner(opts LearnerOptions) (*Learner, error) {
	if opts.TTL <= 0 {
		opts.TTL = DefaultLearnTTL
	}
	if opts.MinHits <= 0 {
		opts.MinHits = DefaultLearnHits
	}
	if opts.MinURLs <= 0 {
		opts.MinURLs = DefaultLearnURLs
	}
	if opts.MaxCandidates <= 0 {
		opts.MaxCandidates = DefaultMaxCandidates
	}
	if opts.MaxRules <= 0 {
		opts.MaxRules = DefaultMaxLearned
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Learner{
		opts:  opts,
		seed:  maphash.MakeSeed(),
		cands: lru.New[string, *candidate](opts.MaxCandidates),
		rules: make(map[string]*LearnedRule),
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.load()
	l.rebuild()
	l.changed.Store(false) // the caller takes Matcher itself
	return l, err
}

// Observe records a heuristic hit: a tiny image of type t from host at
// rawURL. It returns the rule it learned from this hit, if it did.
func (l *Learner) Observe(host, rawURL string, t Type, now time.Time) (rule string, learned bool) {
	host = strings.TrimSuffix(lowerHost(host), ".")
	if host == "" || l.allowed(host) {
		return "", false
	}
	pattern, ok := learnPattern(host, rawURL)
	if !ok {
		return "", false
	}
	defer l.announce()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(now)
	for text, r := range l.rules {
		if r.Host == host && strings.HasPrefix(text, pattern+"$") {
			return "", false // already learned (the hit came in another type)
		}
	}
	c, ok := l.cands.Get(pattern)
	if !ok || now.Sub(c.first) > l.opts.TTL {
		c = &candidate{first: now}
		l.cands.Add(pattern, c)
	}
	c.hits++
	c.types |= t
	if h := maphash.String(l.seed, rawURL); len(c.urls) < l.opts.MinURLs && !slices.Contains(c.urls, h) {
		c.urls = append(c.urls, h)
	}
	if c.hits < l.opts.MinHits || len(c.urls) < l.opts.MinURLs {
		return "", false
	}
	types := c.types
	if types == 0 {
		types = TypeImage
	}
	rule = "||" + pattern + "$" + strings.ReplaceAll(types.String(), "|", ",")
	if _, err := ParseRule(rule); err != nil {
		return "", false // a shape the filter syntax cannot say
	}
	l.cands.Remove(pattern)
	for len(l.rules) >= l.opts.MaxRules {
		l.dropLeastUsed()
	}
	l.rules[rule] = &LearnedRule{Rule: rule, Host: host, Learned: now, LastUsed: now, Example: redactQuery(rawURL)}
	l.rebuild()
	l.saveLocked(now)
	return rule, true
}

// Match decides on req with the learned rules alone: Block with the rule
// and LearnedListName, or Pass. A rule unused for TTL is forgotten here
// rather than applied, and none applies to a host the user allowed.
func (l *Learner) Match(req *Request) Decision {
	if l.active.Load() == 0 {
		return Decision{}
	}
	d := l.matcher.Load().Match(req)
	if d.Action != Block {
		return Decision{}
	}
	if l.allowed(req.Host) {
		return Decision{}
	}
	now := l.opts.Now()
	defer l.announce()
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.rules[d.Rule]
	if !ok {
		return Decision{} // unlearned since the matcher was loaded
	}
	if now.Sub(r.LastUsed) > l.opts.TTL {
		l.expire(now)
		return Decision{}
	}
	return d
}

// Touch records that rule blocked a request at now, which keeps it alive.
func (l *Learner) Touch(rule string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.rules[rule]
	if !ok {
		return
	}
	r.Hits++
	if now.After(r.LastUsed) {
		r.LastUsed = now
	}
	if now.Sub(l.saved) >= touchSaveEvery {
		l.saveLocked(now)
	}
}

// Unlearn forgets a learned rule at once; the host and shape may be
// learned again later.
func (l *Learner) Unlearn(rule string) error {
	defer l.announce()
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.rules[rule]; !ok {
		return fmt.Errorf("no learned rule %q", rule)
	}
	delete(l.rules, rule)
	l.rebuild()
	return l.saveLocked(l.opts.Now())
}

// Rules returns the learned rules in force, most recently learned first.
func (l *Learner) Rules() []LearnedRule {
	defer l.announce()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(l.opts.Now())
	out := make([]LearnedRule, 0, len(l.rules))
	for _, r := range l.rules {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b LearnedRule) int {
		if c := b.Learned.Compare(a.Learned); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return out
}

// Matcher is the compiled learned rules: immutable, replaced whole when
// they change.
func (l *Learner) Matcher() *Matcher { return l.matcher.Load() }

// Source is the learned rules as a list named LearnedListName, to compile
// with the others or report beside them.
func (l *Learner) Source() Source {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sourceLocked()
}

// Save writes the rules to Path now (on shutdown: Touch saves last-used
// times only now and then).
func (l *Learner) Save() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.saveLocked(l.opts.Now())
}

func (l *Learner) allowed(host string) bool {
	return l.opts.Allowed != nil && l.opts.Allowed(host)
}

func (l *Learner) sourceLocked() Source {
	texts := make([]string, 0, len(l.rules))
	for text := range l.rules {
		texts = append(texts, text)
	}
	slices.Sort(texts)
	var b strings.Builder
	b.WriteString("! Rules pixelwall learned from its response heuristic\n")
	for _, t := range texts {
		b.WriteString(t)
		b.WriteByte('\n')
	}
	return Source{Name: LearnedListName, Format: FormatAdblock, Text: b.String()}
}

// rebuild compiles the rules and publishes the matcher. l.mu is held.
func (l *Learner) rebuild() {
	l.matcher.Store(Compile(l.sourceLocked()))
	l.active.Store(int32(len(l.rules)))
	l.changed.Store(true)
}

// announce calls OnChange after a rebuild. Methods that may rebuild defer
// it before taking l.mu, so it runs after the unlock.
func (l *Learner) announce() {
	if l.changed.Swap(false) && l.opts.OnChange != nil {
		l.opts.OnChange(l.matcher.Load())
	}
}

// expire forgets the rules unused for TTL. l.mu is held.
func (l *Learner) expire(now time.Time) {
	n := len(l.rules)
	for text, r := range l.rules {
		if now.Sub(r.LastUsed) > l.opts.TTL {
			delete(l.rules, text)
		}
	}
	if len(l.rules) != n {
		l.rebuild()
		l.saveLocked(now)
	}
}

// dropLeastUsed makes room for a rule. l.mu is held.
func (l *Learner) dropLeastUsed() {
	var oldest *LearnedRule
	for _, r := range l.rules {
		if oldest == nil || r.LastUsed.Before(oldest.LastUsed) {
			oldest = r
		}
	}
	if oldest != nil {
		delete(l.rules, oldest.Rule)
	}
}
