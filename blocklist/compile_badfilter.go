package blocklist

import (
	"strings"
)

// badFilters collects $badfilter rules: the canonical text of each twin they
// cancel, the twins' raw patterns (only rules with one of those are looked
// at again), and the hostnames of plain "||host^" twins.
type badFilters struct {
	twins    map[string]bool
	patterns map[string]bool
	hosts    map[string]bool
}

func (bf *badFilters) add(r *Rule) {
	if bf.twins == nil {
		bf.twins, bf.patterns, bf.hosts = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	twin := *r
	twin.BadFilter = false
	bf.twins[twin.String()] = true
	bf.patterns[twin.Pattern] = true
	if host, ok := plainHostRule(&twin); ok {
		bf.hosts[host] = true // also cancels host from hosts and domain lists
	}
}

// cancels reports whether a compiled rule's text is a cancelled twin.
func (bf *badFilters) cancels(text string) bool {
	if !bf.patterns[rawPattern(text)] {
		return false
	}
	r, err := ParseRule(text)
	return err == nil && bf.twins[r.String()]
}

// rawPattern is the pattern of a rule's text as ParseRule reads it, cheaply.
func rawPattern(text string) string {
	s := strings.TrimPrefix(text, "@@")
	if i := optionsStart(s); i >= 0 {
		s = s[:i]
	}
	if len(s) >= 3 && s[0] == '/' && s[len(s)-1] == '/' {
		return s[1 : len(s)-1]
	}
	if t, ok := strings.CutPrefix(s, "||"); ok {
		s = t
	} else {
		s = strings.TrimPrefix(s, "|")
	}
	return strings.TrimSuffix(s, "|")
}

// applyBadFilters drops the rules $badfilter rules name, from every index,
// the parameter table and the host set, and fixes the counts.
func (m *Matcher) applyBadFilters(bf *badFilters, entries *[numCats][]indexEntry) {
	for cat := range entries {
		kept := entries[cat][:0]
		for _, e := range entries[cat] {
			r := &m.rules[e.rule]
			if !bf.cancels(r.text) {
				kept = append(kept, e)
				continue
			}
			if e.twin {
				continue // counted with the rule it copies
			}
			st := &m.lists[r.list]
			st.BadFiltered++
			switch cat {
			case catBlock:
				st.Blocking--
			case catImportant:
				st.Important--
			case catRedirect:
				st.Redirect--
			case catRemoveParam, catKeepParam:
				st.RemoveParam--
			default:
				st.Exceptions--
			}
		}
		entries[cat] = kept
	}
	for name, i := range m.params {
		if r := &m.rules[i]; bf.cancels(r.text) {
			delete(m.params, name)
			m.lists[r.list].BadFiltered++
			m.lists[r.list].RemoveParam--
		}
	}
	if len(bf.hosts) > 0 {
		kept := m.hosts.entries[:0]
		for _, e := range m.hosts.entries {
			if bf.hosts[m.hosts.key(&e)] || bf.cancels(m.hosts.ruleText(&e)) {
				m.lists[e.list].BadFiltered++
				m.lists[e.list].Hostnames--
				continue
			}
			kept = append(kept, e)
		}
		m.hosts.entries = kept
	}
}
