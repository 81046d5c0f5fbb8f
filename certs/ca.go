package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names inside Options.Dir.
const (
	certFile = "ca.pem"
	keyFile  = "ca-key.pem"
	oldExt   = ".old"
)

// File and directory permissions.
const (
	dirPerm  fs.FileMode = 0o700
	certPerm fs.FileMode = 0o644
	keyPerm  fs.FileMode = 0o600
)

// DefaultCAValidity is the CA lifetime used when Options.Validity is zero.
const DefaultCAValidity = 5 * 365 * 24 * time.Hour

// regenerateHint ends the errors that only a new CA can fix.
const regenerateHint = "run `pixelwall ca regenerate`"

// Options configure [LoadOrCreate] and [Regenerate]. Zero fields take their
// defaults; Dir is required. An Options value is only read, so one may be
// shared between goroutines.
type Options struct {
	// Dir is the directory holding ca.pem and ca-key.pem. It is created
	// with mode 0700 if absent.
	Dir string
	// Name is the CA's common name. The default is
	// "pixelwall local CA (<os hostname>)".
	Name string
	// Validity is the lifetime of a newly created CA. The default is
	// DefaultCAValidity (5 years).
	Validity time.Duration
	// Now returns the current time. The default is time.Now; tests set it.
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("certs: Options.Dir is empty")
	}
	if o.Name == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "unknown host"
		}
		o.Name = "pixelwall local CA (" + host + ")"
	}
	if o.Validity <= 0 {
		o.Validity = DefaultCAValidity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// CA is pixelwall's certificate authority: a self-signed certificate and its
// private key. A CA is immutable once made, so its methods are safe for
// concurrent use; callers must not modify Cert or Key.
type CA struct {
	// Cert is the parsed CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key (ECDSA P-256 for CAs pixelwall creates).
	Key *ecdsa.PrivateKey

	certPEM  []byte
	certPath string
	keyPath  string
}

// CertPEM returns the CA certificate in PEM form, as written to ca.pem. The
// slice is a fresh copy the caller may keep or modify. Safe for concurrent
// use.
func (ca *CA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// CertDER returns the CA certificate in DER form. The slice is a fresh copy
// the caller may keep or modify. Safe for concurrent use.
func (ca *CA) CertDER() []byte { return bytes.Clone(ca.Cert.Raw) }

// CertPath returns the path of the CA certificate file (ca.pem). Safe for
// concurrent use.
func (ca *CA) CertPath() string { return ca.certPath }

// KeyPath returns the path of the CA private key file (ca-key.pem). Safe for
// concurrent use.
func (ca *CA) KeyPath() string { return ca.keyPath }

// Fingerprint returns the SHA-256 fingerprint of the CA certificate's DER
// encoding as upper-case hex pairs joined by ':', the form browsers and
// `openssl x509 -fingerprint -sha256` show. Safe for concurrent use.
func (ca *CA) Fingerprint() string {
	sum := sha256.Sum256(ca.Cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	b.Grow(len(sum)*3 - 1)
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// SPKIHash returns the standard base64 encoding of the SHA-256 of the CA
// certificate's DER SubjectPublicKeyInfo, the form Chromium's
// --ignore-certificate-errors-spki-list flag takes. Safe for concurrent use.
func (ca *CA) SPKIHash() string {
	sum := sha256.Sum256(ca.Cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// LoadOrCreate loads the CA from opts.Dir, or creates one there if neither
// ca.pem nor ca-key.pem exists; created reports which happened. It fails,
// naming the file, when only one of the two files exists, when a file is not
// what it should be, when the key does not belong to the certificate, when
// ca-key.pem is readable or writable by group or other, or when the CA has
// expired.
//
// Calls for different directories may run concurrently. Calls for the same
// directory, from this or another process, must be serialized by the caller:
// two first runs racing could each create a CA, and the last to write wins.
func LoadOrCreate(opts Options) (ca *CA, created bool, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, false, err
	}
	if err := ensureDir(opts.Dir); err != nil {
		return nil, false, err
	}
	certPath := filepath.Join(opts.Dir, certFile)
	keyPath := filepath.Join(opts.Dir, keyFile)
	certExists, err := fileExists(certPath)
	if err != nil {
		return nil, false, err
	}
	keyExists, err := fileExists(keyPath)
	if err != nil {
		return nil, false, err
	}
	switch {
	case certExists && keyExists:
		ca, err := load(certPath, keyPath, opts.Now())
		return ca, false, err
	case certExists:
		return nil, false, fmt.Errorf("certs: %s exists but its key %s is missing; restore the key or %s", certPath, keyPath, regenerateHint)
	case keyExists:
		return nil, false, fmt.Errorf("certs: %s exists but its certificate %s is missing; restore the certificate or %s", keyPath, certPath, regenerateHint)
	}
	ca, err = newCA(opts, certPath, keyPath)
	if err != nil {
		return nil, false, err
	}
	if err := install(
		fileData{path: keyPath, data: keyPEM(ca), perm: keyPerm},
		fileData{path: certPath, data: ca.certPEM, perm: certPerm},
	); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// Regenerate always creates a new CA in opts.Dir. Existing ca.pem and
// ca-key.pem, valid or not, are first copied to ca.pem.old and ca-key.pem.old
// (the key copy with mode 0600); the new files then replace them atomically,
// so ca.pem and ca-key.pem never go missing.
//
// Calls for the same directory must be serialized by the caller, as for
// LoadOrCreate.
func Regenerate(opts Options) (*CA, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ensureDir(opts.Dir); err != nil {
		return nil, err
	}
	certPath := filepath.Join(opts.Dir, certFile)
	keyPath := filepath.Join(opts.Dir, keyFile)
	ca, err := newCA(opts, certPath, keyPath)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		path string
		perm fs.FileMode
	}{{certPath, certPerm}, {keyPath, keyPerm}} {
		data, err := os.ReadFile(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("certs: keeping a copy of %s: %w", f.path, err)
		}
		if err := install(fileData{path: f.path + oldExt, data: data, perm: f.perm}); err != nil {
			return nil, err
		}
	}
	if err := install(
		fileData{path: keyPath, data: keyPEM(ca), perm: keyPerm},
		fileData{path: certPath, data: ca.certPEM, perm: certPerm},
	); err != nil {
		return nil, err
	}
	return ca, nil
}
