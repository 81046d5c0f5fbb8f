package blocklist

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

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
