package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
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

// newCA makes a fresh P-256 key and self-signed CA certificate.
func newCA(opts Options, certPath, keyPath string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generating CA key for %s: %w", keyPath, err)
	}
	serial := randomSerial()
	now := opts.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   opts.Name,
			Organization: []string{"pixelwall"},
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		// SubjectKeyId is left empty: CreateCertificate derives it from
		// the public key for CA templates.
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: creating CA certificate for %s: %w", certPath, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parsing new CA certificate for %s: %w", certPath, err)
	}
	return &CA{
		Cert:     cert,
		Key:      key,
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		certPath: certPath,
		keyPath:  keyPath,
	}, nil
}

// keyPEM encodes the CA key as PKCS#8 PEM ("PRIVATE KEY").
func keyPEM(ca *CA) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		// An ECDSA key on a standard curve always marshals.
		panic(fmt.Sprintf("certs: marshaling CA key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() *big.Int {
	var b [16]byte
	rand.Read(b[:]) // never fails (Go 1.24)
	b[0] &= 0x7f    // keep it positive in DER without a leading zero byte
	n := new(big.Int).SetBytes(b[:])
	if n.Sign() == 0 {
		n.SetInt64(1)
	}
	return n
}

// load reads and checks an existing CA.
func load(certPath, keyPath string, now time.Time) (*CA, error) {
	if err := checkKeyMode(keyPath); err != nil {
		return nil, err
	}
	certData, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("certs: reading CA certificate: %w", err)
	}
	cert, err := parseCACert(certPath, certData)
	if err != nil {
		return nil, err
	}
	keyData, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("certs: reading CA key: %w", err)
	}
	key, err := parseKey(keyPath, keyData)
	if err != nil {
		return nil, err
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("certs: %s: certificate has a %v public key, want ECDSA; %s", certPath, cert.PublicKeyAlgorithm, regenerateHint)
	}
	if !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("certs: %s does not match %s: the key belongs to another certificate; restore the matching pair or %s", keyPath, certPath, regenerateHint)
	}
	if !now.Before(cert.NotAfter) {
		return nil, fmt.Errorf("certs: %s: CA certificate expired on %s; %s and install the new CA", certPath, cert.NotAfter.UTC().Format(time.RFC3339), regenerateHint)
	}
	return &CA{
		Cert:     cert,
		Key:      key,
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		certPath: certPath,
		keyPath:  keyPath,
	}, nil
}

// checkKeyMode refuses a key file that group or other may read or write.
// Windows has no such permission bits, so it is not checked there.
func checkKeyMode(keyPath string) error {
	fi, err := os.Stat(keyPath)
	if err != nil {
		return fmt.Errorf("certs: checking CA key: %w", err)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return fmt.Errorf("certs: %s has mode %04o and is readable or writable by group or other; run `chmod 600 %s`, or if it may have leaked, %s",
			keyPath, mode, keyPath, regenerateHint)
	}
	return nil
}

// parseCACert parses ca.pem and checks that it is a CA certificate.
func parseCACert(path string, data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("certs: %s: not a PEM file (no -----BEGIN CERTIFICATE----- block); %s", path, regenerateHint)
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("certs: %s: PEM block is %q, want \"CERTIFICATE\"", path, block.Type)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: parsing certificate: %w", path, err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("certs: %s: not a CA certificate (basic constraints do not say CA:TRUE); %s", path, regenerateHint)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certs: %s: CA certificate may not sign certificates (key usage lacks certSign); %s", path, regenerateHint)
	}
	return cert, nil
}

// parseKey parses ca-key.pem: SEC 1 "EC PRIVATE KEY" or PKCS#8 "PRIVATE
// KEY", skipping an "EC PARAMETERS" block as `openssl ecparam -genkey`
// writes. Only ECDSA keys are accepted.
func parseKey(path string, data []byte) (*ecdsa.PrivateKey, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(rest) == len(data) {
				return nil, fmt.Errorf("certs: %s: not a PEM file (no -----BEGIN PRIVATE KEY----- block); %s", path, regenerateHint)
			}
			return nil, fmt.Errorf("certs: %s: no private key PEM block found; %s", path, regenerateHint)
		}
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "EC PRIVATE KEY":
			key, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certs: %s: parsing EC private key: %w", path, err)
			}
			return key, nil
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certs: %s: parsing PKCS#8 private key: %w", path, err)
			}
			switch key := k.(type) {
			case *ecdsa.PrivateKey:
				return key, nil
			case *rsa.PrivateKey:
				return nil, rsaKeyError(path)
			default:
				return nil, fmt.Errorf("certs: %s: private key is %T, want ECDSA; %s", path, k, regenerateHint)
			}
		case "RSA PRIVATE KEY":
			return nil, rsaKeyError(path)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("certs: %s: private key is encrypted; pixelwall needs it unencrypted (mode 0600)", path)
		default:
			return nil, fmt.Errorf("certs: %s: PEM block is %q, not a private key", path, block.Type)
		}
	}
}

func rsaKeyError(path string) error {
	return fmt.Errorf("certs: %s: private key is RSA, want ECDSA (P-256); %s", path, regenerateHint)
}

// ensureDir creates dir with mode 0700 if it does not exist.
func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("certs: %s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("certs: checking CA directory: %w", err)
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return fmt.Errorf("certs: creating CA directory: %w", err)
	}
	// MkdirAll's mode is subject to the umask; make sure it is exactly 0700.
	if err := os.Chmod(dir, dirPerm); err != nil {
		return fmt.Errorf("certs: setting mode of CA directory: %w", err)
	}
	return nil
}

// fileExists reports whether path exists, failing if it is not a regular
// file.
func fileExists(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("certs: checking %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("certs: %s is not a regular file", path)
	}
	return true, nil
}

// fileData is a file for install to write.
type fileData struct {
	path string
	data []byte
	perm fs.FileMode
}

// install writes each file to a temporary file in its directory, fsyncs it,
// and only when all are written renames them into place in order, then
// fsyncs the directories. A failure leaves no temporary files behind.
func install(files ...fileData) (err error) {
	tmps := make([]string, 0, len(files))
	renamed := 0
	defer func() {
		if err != nil {
			for _, tmp := range tmps[renamed:] {
				os.Remove(tmp)
			}
		}
	}()
	for _, f := range files {
		tmp, err := writeTemp(f)
		if err != nil {
			return err
		}
		tmps = append(tmps, tmp)
	}
	for i, f := range files {
		if err := os.Rename(tmps[i], f.path); err != nil {
			return fmt.Errorf("certs: replacing %s: %w", f.path, err)
		}
		renamed++
	}
	synced := make(map[string]bool)
	for _, f := range files {
		if dir := filepath.Dir(f.path); !synced[dir] {
			synced[dir] = true
			syncDir(dir)
		}
	}
	return nil
}

// writeTemp writes f.data to a new temporary file beside f.path with mode
// f.perm, fsyncs and closes it, and returns its name.
func writeTemp(f fileData) (name string, err error) {
	dir, base := filepath.Split(f.path)
	if dir == "" {
		dir = "."
	}
	tf, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("certs: writing %s: %w", f.path, err)
	}
	defer func() {
		if err != nil {
			tf.Close()
			os.Remove(tf.Name())
		}
	}()
	if err := tf.Chmod(f.perm); err != nil {
		return "", fmt.Errorf("certs: writing %s: %w", f.path, err)
	}
	if _, err := tf.Write(f.data); err != nil {
		return "", fmt.Errorf("certs: writing %s: %w", f.path, err)
	}
	if err := tf.Sync(); err != nil {
		return "", fmt.Errorf("certs: writing %s: %w", f.path, err)
	}
	if err := tf.Close(); err != nil {
		return "", fmt.Errorf("certs: writing %s: %w", f.path, err)
	}
	return tf.Name(), nil
}

// syncDir fsyncs a directory so that renames in it are durable. It is best
// effort: some systems (Windows, some file systems) cannot fsync directories,
// and the rename has already happened.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}
