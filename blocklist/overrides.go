package blocklist

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// Override allows what the lists would block, made at run time (from the
// dashboard or a block page): by request host, or by the site of the page
// making the requests; for every client or one; for a while or always.
type Override struct {
	Host   string     `json:"host,omitempty"`  // a request host and its subdomains
	Site   string     `json:"site,omitempty"`  // requests made from pages of this domain
	Client netip.Addr `json:"client,omitzero"` // zero: every client
	Until  time.Time  `json:"until,omitzero"`  // zero: always
	Added  time.Time  `json:"added"`
	// List is the list the override is reported under when it allows a
	// request; empty for the user's own (OverridesListName).
	List string `json:"-"`
}

// Overrides is a set of Override entries. Safe for concurrent use; the
// zero value is ready (and empty).
type Overrides struct {
	mu      sync.RWMutex
	entries []Override
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Overrides) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// MaxOverrides bounds the overrides kept; Add refuses more.
const MaxOverrides = 10000

// ErrTooManyOverrides is Add's refusal beyond MaxOverrides.
var ErrTooManyOverrides = fmt.Errorf("more than %d allows: remove some first", MaxOverrides)

// Add records an override; Host and Site are lower-cased.
func (o *Overrides) Add(ov Override) error {
	ov.Host = strings.TrimSuffix(lowerHost(ov.Host), ".")
	ov.Site = strings.TrimSuffix(lowerHost(ov.Site), ".")
	if ov.Added.IsZero() {
		ov.Added = o.now()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prune()
	if len(o.entries) >= MaxOverrides {
		return ErrTooManyOverrides
	}
	o.entries = append(o.entries, ov)
	return nil
}

// Remove deletes the overrides for exactly host or site (and client, when
// valid); it reports how many it removed.
func (o *Overrides) Remove(host, site string, client netip.Addr) int {
	host = strings.TrimSuffix(lowerHost(host), ".")
	site = strings.TrimSuffix(lowerHost(site), ".")
	o.mu.Lock()
	defer o.mu.Unlock()
	kept := o.entries[:0]
	for _, e := range o.entries {
		if e.Host == host && e.Site == site && (!client.IsValid() || e.Client == client) {
			continue
		}
		kept = append(kept, e)
	}
	n := len(o.entries) - len(kept)
	o.entries = kept
	return n
}

// List returns the overrides in force.
func (o *Overrides) List() []Override {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prune()
	return append([]Override(nil), o.entries...)
}

func (o *Overrides) prune() {
	now := o.now()
	kept := o.entries[:0]
	for _, e := range o.entries {
		if e.Until.IsZero() || now.Before(e.Until) {
			kept = append(kept, e)
		}
	}
	o.entries = kept
}

// Save writes the permanent overrides (Until zero) to path, one JSON
// object a line, atomically.
func (o *Overrides) Save(path string) error {
	var b bytes.Buffer
	for _, e := range o.List() {
		if e.Until.IsZero() {
			line, _ := json.Marshal(e)
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return writeAtomic(path, b.Bytes())
}

// Load adds the overrides saved at path; a missing file is no error.
func (o *Overrides) Load(path string) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e Override
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if err := o.Add(e); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}
