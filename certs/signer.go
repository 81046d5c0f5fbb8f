package certs

import (
	"container/list"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Signer defaults.
const (
	// DefaultCapacity is the leaf cache size used when
	// SignerOptions.Capacity is zero.
	DefaultCapacity = 1024
	// DefaultLeafValidity is the leaf lifetime used when
	// SignerOptions.Validity is zero.
	DefaultLeafValidity = 7 * 24 * time.Hour
	// renewBefore is how long before its expiry a cached leaf is re-signed.
	renewBefore = time.Hour
)

// SignerOptions configure [NewSigner]. Zero fields take their defaults.
type SignerOptions struct {
	// Capacity is the most leaves kept in the cache; the least recently
	// used is evicted. The default is DefaultCapacity (1024).
	Capacity int
	// Validity is a leaf's lifetime. The default is DefaultLeafValidity
	// (7 days). A leaf never outlives the CA.
	Validity time.Duration
	// Now returns the current time. The default is time.Now; tests set it.
	// It must be safe for concurrent use.
	Now func() time.Time
}

// Signer issues leaf certificates signed by a CA and caches them. A Signer
// is safe for concurrent use by multiple goroutines.
type Signer struct {
	ca       *CA
	capacity int
	validity time.Duration
	now      func() time.Time

	// Test hooks, nil in production: hookJoin runs when a caller missed
	// the cache and is about to sign or join a signing under way, hookSign
	// before a signing.
	hookJoin func(key string)
	hookSign func(key string)

	flight  singleflight.Group // signings under way, by normalized host
	mu      sync.Mutex
	lru     *list.List               // of *cacheEntry; front is most recent
	entries map[string]*list.Element // by normalized host
	hits    uint64
	signed  uint64
}

type cacheEntry struct {
	key     string
	cert    *tls.Certificate
	renewAt time.Time // NotAfter - renewBefore
}

// NewSigner returns a Signer issuing leaves signed by ca. ca must not be
// modified afterwards. NewSigner is safe to call concurrently.
func NewSigner(ca *CA, opts SignerOptions) *Signer {
	if opts.Capacity <= 0 {
		opts.Capacity = DefaultCapacity
	}
	if opts.Validity <= 0 {
		opts.Validity = DefaultLeafValidity
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Signer{
		ca:       ca,
		capacity: opts.Capacity,
		validity: opts.Validity,
		now:      opts.Now,
		lru:      list.New(),
		entries:  make(map[string]*list.Element),
	}
}

// Certificate returns a leaf certificate for host, signing it on first use.
// host is a DNS name (matched case-insensitively, a trailing dot ignored) or
// an IP literal, IPv6 with or without brackets; a port is an error.
//
// Certificate is safe for concurrent use. Concurrent calls for the same
// uncached host sign once and all get the same result (single-flight). A
// cached leaf within 1 hour of expiry, or expired, is re-signed. The returned
// certificate is shared with other callers and must not be modified. Its
// chain is [leaf DER, CA DER]; Leaf and PrivateKey are set.
func (s *Signer) Certificate(host string) (*tls.Certificate, error) {
	key, ip, err := normalizeHost(host)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	if el, ok := s.entries[key]; ok {
		e := el.Value.(*cacheEntry)
		if s.now().Before(e.renewAt) {
			s.lru.MoveToFront(el)
			s.hits++
			s.mu.Unlock()
			return e.cert, nil
		}
	}
	s.mu.Unlock()

	if s.hookJoin != nil {
		s.hookJoin(key)
	}
	led := false
	v, err, _ := s.flight.Do(key, func() (any, error) {
		led = true
		if s.hookSign != nil {
			s.hookSign(key)
		}
		cert, err := s.sign(key, ip)
		if err == nil {
			s.mu.Lock()
			s.signed++
			s.add(key, cert)
			s.mu.Unlock()
		}
		return cert, err
	})
	if !led {
		s.mu.Lock()
		s.hits++
		s.mu.Unlock()
	}
	cert, _ := v.(*tls.Certificate)
	return cert, err
}

// add caches cert under key as most recent, evicting the least recently used
// beyond capacity. s.mu must be held.
func (s *Signer) add(key string, cert *tls.Certificate) {
	e := &cacheEntry{key: key, cert: cert, renewAt: cert.Leaf.NotAfter.Add(-renewBefore)}
	if el, ok := s.entries[key]; ok {
		el.Value = e
		s.lru.MoveToFront(el)
		return
	}
	s.entries[key] = s.lru.PushFront(e)
	for s.lru.Len() > s.capacity {
		oldest := s.lru.Back()
		s.lru.Remove(oldest)
		delete(s.entries, oldest.Value.(*cacheEntry).key)
	}
}

// sign issues a leaf for the normalized host key; ip is non-nil for IP
// literals.
func (s *Signer) sign(key string, ip net.IP) (*tls.Certificate, error) {
	caCert := s.ca.Cert
	now := s.now()
	if !now.Before(caCert.NotAfter) {
		return nil, fmt.Errorf("certs: signing leaf for %s: CA %s expired on %s; %s",
			key, s.ca.certPath, caCert.NotAfter.UTC().Format(time.RFC3339), regenerateHint)
	}
	notBefore := now.Add(-time.Hour)
	if notBefore.Before(caCert.NotBefore) {
		notBefore = caCert.NotBefore
	}
	notAfter := now.Add(s.validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generating key for %s: %w", key, err)
	}
	serial := randomSerial()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: key},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		AuthorityKeyId:        caCert.SubjectKeyId,
	}
	if ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{key}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &priv.PublicKey, s.ca.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: signing leaf for %s: %w", key, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parsing leaf for %s: %w", key, err)
	}
	return &tls.Certificate{
		Certificate: [][]byte{der, caCert.Raw},
		PrivateKey:  priv,
		Leaf:        leaf,
	}, nil
}

// TLSConfig returns a server tls.Config for intercepting a connection to
// host. Its GetCertificate serves a leaf for the ClientHello's SNI name when
// there is one and for host otherwise; NextProtos is ["http/1.1"] and
// MinVersion is TLS 1.2. Each call returns a new Config the caller may
// adjust; it and the Signer are safe for concurrent use.
func (s *Signer) TLSConfig(host string) *tls.Config {
	return &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := hello.ServerName
			if name == "" {
				name = host
			}
			return s.Certificate(name)
		},
		NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12,
	}
}

// Stats reports cache hits (including callers that waited on another's
// signing), successful signings, and the number of cached leaves. Safe for
// concurrent use.
func (s *Signer) Stats() (hits, signed uint64, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits, s.signed, s.lru.Len()
}

// normalizeHost returns the cache key and certificate name for host, with
// ip set for IP literals. DNS names are lower-cased and lose a trailing dot.
// It does not allocate for an already-normalized DNS name.
func normalizeHost(host string) (key string, ip net.IP, err error) {
	h := host
	if len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	if looksLikeIP(h) {
		if addr, perr := netip.ParseAddr(h); perr == nil {
			if addr.Zone() != "" {
				return "", nil, fmt.Errorf("certs: invalid host %q: IPv6 zone not allowed in a certificate", host)
			}
			return addr.String(), net.IP(addr.AsSlice()), nil
		}
	}
	h = strings.TrimSuffix(h, ".")
	if err := checkDNSName(h); err != nil {
		return "", nil, fmt.Errorf("certs: invalid host %q: %w", host, err)
	}
	return strings.ToLower(h), nil, nil // no allocation if already lower-case
}

// looksLikeIP reports whether s could be an IP literal: it has a colon, or
// only digits and dots. Other strings skip netip.ParseAddr, whose error
// allocates.
func looksLikeIP(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			return true
		}
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// checkDNSName checks the syntax of a host name: at most 253 bytes, labels of
// 1 to 63 letters, digits, hyphens or underscores.
func checkDNSName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) > 253 {
		return errors.New("name longer than 253 bytes")
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return errors.New("empty label")
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == ':':
			return errors.New("contains ':' (a port?) but is not an IP address")
		default:
			return fmt.Errorf("invalid character %q", c)
		}
		label++
		if label > 63 {
			return errors.New("label longer than 63 bytes")
		}
	}
	return nil
}
