package blocklist

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/url"
	"os"
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

// learnedFile is learned.json.
type learnedFile struct {
	Rules []LearnedRule `json:"rules"`
}

// saveLocked writes the rules to Path atomically, readable by the owner
// only: rules and examples say which mail and sites the user reads. l.mu
// is held.
func (l *Learner) saveLocked(now time.Time) error {
	if l.opts.Path == "" {
		return nil
	}
	f := learnedFile{Rules: make([]LearnedRule, 0, len(l.rules))}
	for _, r := range l.rules {
		f.Rules = append(f.Rules, *r)
	}
	slices.SortFunc(f.Rules, func(a, b LearnedRule) int { return strings.Compare(a.Rule, b.Rule) })
	if err := writeAtomic(l.opts.Path, mustJSON(f)); err != nil {
		err = fmt.Errorf("save learned rules: %w", err)
		l.opts.Logger.Warn(err.Error())
		return err
	}
	l.saved = now
	return nil
}

// load reads Path; a missing file is no error. l.mu is held.
func (l *Learner) load() error {
	if l.opts.Path == "" {
		return nil
	}
	rules, err := readLearned(l.opts.Path, l.opts.Now(), l.opts.TTL)
	for _, r := range rules {
		l.rules[r.Rule] = &r
	}
	for len(l.rules) > l.opts.MaxRules {
		l.dropLeastUsed()
	}
	if errors.Is(err, errBadLearned) {
		return l.setAside(err)
	}
	return err
}

var errBadLearned = errors.New("unusable")

// readLearned reads the rules saved at path that were used within ttl of
// now; a missing file has none. When some cannot be used, the error (which
// wraps errBadLearned) says which, and the others are returned.
func readLearned(path string, now time.Time, ttl time.Duration) ([]LearnedRule, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("learned rules %s: %w", path, err)
	}
	var f learnedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadLearned, err)
	}
	var rules []LearnedRule
	var bad []error
	for i, r := range f.Rules {
		if err := checkLearned(r); err != nil {
			bad = append(bad, fmt.Errorf("rule %d: %w", i+1, err))
			continue
		}
		if now.Sub(r.LastUsed) <= ttl {
			rules = append(rules, r)
		}
	}
	if len(bad) > 0 {
		return rules, fmt.Errorf("%w: %w", errBadLearned, errors.Join(bad...))
	}
	return rules, nil
}

// ReadLearnedSource reads the rules a Learner saved at path (learned.json)
// as the list LearnedListName, without changing the file: for reports such
// as `pixelwall lists show`. Rules unused for DefaultLearnTTL are left out.
func ReadLearnedSource(path string, now time.Time) (Source, error) {
	rules, err := readLearned(path, now, DefaultLearnTTL)
	if err != nil && errors.Is(err, errBadLearned) {
		err = fmt.Errorf("learned rules %s: %w", path, err)
	}
	l := &Learner{rules: make(map[string]*LearnedRule, len(rules))}
	for _, r := range rules {
		l.rules[r.Rule] = &r
	}
	return l.sourceLocked(), err
}

// setAside keeps an unusable learned.json as learned.json.bad, so that
// saving the rules that could be read does not lose it.
func (l *Learner) setAside(cause error) error {
	bad := l.opts.Path + ".bad"
	if err := os.Rename(l.opts.Path, bad); err != nil {
		return fmt.Errorf("learned rules %s: %w (and it could not be set aside: %v)", l.opts.Path, cause, err)
	}
	return fmt.Errorf("learned rules %s: %w (the file is kept as %s)", l.opts.Path, cause, bad)
}

// checkLearned says what is wrong with a saved rule, if anything.
func checkLearned(r LearnedRule) error {
	if r.Host == "" || !strings.HasPrefix(r.Rule, "||"+r.Host) {
		return fmt.Errorf("%q: not a rule for host %q", r.Rule, r.Host)
	}
	p, err := ParseRule(r.Rule)
	if err != nil {
		return fmt.Errorf("%q: %w", r.Rule, err)
	}
	if p.Exception {
		return fmt.Errorf("%q: an exception", r.Rule)
	}
	if _, whole := plainHostRule(p); whole || !strings.ContainsAny(r.Rule[2+len(r.Host):], "/?") {
		return fmt.Errorf("%q: a whole-host rule", r.Rule)
	}
	return nil
}

// learnPattern is what follows "||" in a rule learned from rawURL: the
// host (with its port when the URL names one), the path with identifier
// segments as "*", and the query's parameter names with their values
// dropped. ok is false when the URL has no identifier (nothing to tell a
// beacon from the host's ordinary images) or nothing but identifiers (the
// rule would cover the whole host), or when it holds characters the filter
// syntax gives a meaning to.
func learnPattern(host, rawURL string) (pattern string, ok bool) {
	u, err := url.Parse(rawURL)
	// IPv6 literals are left alone: the filter syntax has no clear way to
	// anchor one with a port.
	if err != nil || u.Opaque != "" || !strings.EqualFold(u.Hostname(), host) || strings.Contains(host, ":") {
		return "", false
	}
	var b strings.Builder
	b.WriteString(host)
	if p := u.Port(); p != "" && !(u.Scheme == "http" && p == "80" || u.Scheme == "https" && p == "443") {
		b.WriteString(":" + p)
	}
	hasID, anchors := false, 0
	segs := strings.Split(u.EscapedPath(), "/")
	for i, seg := range segs {
		if i == 0 {
			if seg != "" {
				return "", false
			}
			continue
		}
		b.WriteByte('/')
		switch {
		case seg == "":
		case identifier(seg):
			hasID = true
			b.WriteByte('*')
			if ext := extension(seg); ext != "" {
				b.WriteString(ext)
			}
		case literalSafe(seg):
			anchors++
			b.WriteString(seg)
		default:
			return "", false
		}
	}
	if len(segs) < 2 {
		b.WriteByte('/')
	}
	if u.RawQuery != "" {
		b.WriteByte('?')
		for i, pair := range strings.Split(u.RawQuery, "&") {
			if i > 0 {
				b.WriteString("*&")
			}
			name, value, eq := strings.Cut(pair, "=")
			if !eq && identifier(name) {
				// "?<id>" (as some ESPs' open.aspx): the identifier is the
				// whole query.
				hasID = true
				b.WriteByte('*')
				continue
			}
			if name == "" || !literalSafe(name) {
				return "", false
			}
			if v, err := url.QueryUnescape(value); err == nil && identifier(v) {
				hasID = true
			}
			b.WriteString(name + "=")
			anchors++
		}
	}
	return b.String(), hasID && anchors > 0
}

// identifier reports whether a path segment or query value looks like it
// names a reader, a message or a send: an e-mail address; or, its
// extension aside, a long segment, a long run of digits, of hex or of
// mixed-case base64, or a token mixing letters and digits.
func identifier(s string) bool {
	if strings.Contains(s, "@") || strings.Contains(s, "%40") {
		return true
	}
	s = strings.TrimSuffix(s, extension(s))
	if len(s) >= 24 {
		return true
	}
	var letters, digits, upper, lower, hex int
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
			hex++
		case c >= 'a' && c <= 'z':
			letters++
			lower++
			if c <= 'f' {
				hex++
			}
		case c >= 'A' && c <= 'Z':
			letters++
			upper++
			if c <= 'F' {
				hex++
			}
		case c == '-' || c == '_' || c == '=' || c == '+' || c == '%' || c == '.' || c == '~':
		default:
			return false
		}
	}
	switch {
	case digits >= 5 && letters == 0:
		return true // numeric IDs, timestamps
	case hex == letters+digits && digits > 0 && hex >= 8:
		return true // hex IDs, UUIDs
	case letters > 0 && digits > 0 && letters+digits >= 6:
		return true // mixed tokens
	case upper > 0 && lower > 0 && len(s) >= 16:
		return true // base64
	}
	return false
}

// extension is a short file extension of letters (".gif"), or "".
func extension(s string) string {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || len(s)-i > 5 || len(s)-i < 2 {
		return ""
	}
	for _, c := range []byte(s[i+1:]) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return ""
		}
	}
	return s[i:]
}

// literalSafe reports whether s can stand in a filter pattern as itself:
// no '*', '^', '|', '$' or other characters the syntax reads.
func literalSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(lowerASCII(c)) || strings.IndexByte("-._~%!'()+,;:@", c) >= 0) {
			return false
		}
	}
	return true
}

// redactQuery returns rawURL with its query values removed, names kept.
func redactQuery(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	u.User, u.Fragment = nil, ""
	if u.RawQuery != "" {
		pairs := strings.Split(u.RawQuery, "&")
		for i, p := range pairs {
			name, _, _ := strings.Cut(p, "=")
			pairs[i] = name + "="
		}
		u.RawQuery = strings.Join(pairs, "&")
	}
	return u.String()
}
