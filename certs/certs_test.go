package certs

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newTestCA creates a CA in a fresh temporary directory.
func newTestCA(t testing.TB, now func() time.Time) *CA {
	t.Helper()
	ca, created, err := LoadOrCreate(Options{Dir: t.TempDir(), Name: "test CA", Now: now})
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	if !created {
		t.Fatal("LoadOrCreate in an empty directory: created = false")
	}
	return ca
}

func caPool(ca *CA) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", path, got, want)
	}
}

func TestLoadOrCreate(t *testing.T) {
	clock := newFakeClock()
	dir := filepath.Join(t.TempDir(), "nested", "pixelwall")
	opts := Options{Dir: dir, Now: clock.Now}
	ca, created, err := LoadOrCreate(opts)
	if err != nil {
		t.Fatalf("LoadOrCreate: %v", err)
	}
	if !created {
		t.Error("first LoadOrCreate: created = false, want true")
	}

	checkMode(t, dir, 0o700)
	checkMode(t, filepath.Join(dir, "ca.pem"), 0o644)
	checkMode(t, filepath.Join(dir, "ca-key.pem"), 0o600)
	if got, want := ca.CertPath(), filepath.Join(dir, "ca.pem"); got != want {
		t.Errorf("CertPath = %q, want %q", got, want)
	}
	if got, want := ca.KeyPath(), filepath.Join(dir, "ca-key.pem"); got != want {
		t.Errorf("KeyPath = %q, want %q", got, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only ca.pem and ca-key.pem", names)
	}

	data, err := os.ReadFile(ca.CertPath())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, ca.CertPEM()) {
		t.Error("ca.pem differs from CertPEM()")
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("ca.pem: no CERTIFICATE block")
	}
	if !bytes.Equal(block.Bytes, ca.CertDER()) {
		t.Error("ca.pem DER differs from CertDER()")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parsing ca.pem: %v", err)
	}
	host, _ := os.Hostname()
	if want := "pixelwall local CA (" + host + ")"; host != "" && cert.Subject.CommonName != want {
		t.Errorf("CN = %q, want %q", cert.Subject.CommonName, want)
	}
	if got := cert.Subject.Organization; len(got) != 1 || got[0] != "pixelwall" {
		t.Errorf("O = %q, want [pixelwall]", got)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid || cert.MaxPathLen != 0 || !cert.MaxPathLenZero {
		t.Errorf("basic constraints: IsCA=%v valid=%v MaxPathLen=%d zero=%v", cert.IsCA, cert.BasicConstraintsValid, cert.MaxPathLen, cert.MaxPathLenZero)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature; cert.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", cert.KeyUsage, want)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", cert.PublicKey)
	}
	if ca.Key.Curve != elliptic.P256() {
		t.Errorf("key curve %v, want P-256", ca.Key.Curve.Params().Name)
	}
	if got, want := cert.NotBefore, clock.Now().Add(-time.Hour); !got.Equal(want) {
		t.Errorf("NotBefore = %v, want %v", got, want)
	}
	if got, want := cert.NotAfter, clock.Now().Add(5*365*24*time.Hour); !got.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", got, want)
	}
	if bits := cert.SerialNumber.BitLen(); bits < 64 || bits > 128 {
		t.Errorf("serial has %d bits, want a random 128-bit number", bits)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if len(cert.SubjectKeyId) == 0 {
		t.Error("no SubjectKeyId")
	}

	// Returned slices are copies.
	der := ca.CertDER()
	der[0] ^= 0xff
	if bytes.Equal(der, ca.CertDER()) {
		t.Error("CertDER returns the CA's own slice")
	}

	again, created, err := LoadOrCreate(opts)
	if err != nil {
		t.Fatalf("second LoadOrCreate: %v", err)
	}
	if created {
		t.Error("second LoadOrCreate: created = true, want false")
	}
	if !again.Cert.Equal(ca.Cert) {
		t.Error("second LoadOrCreate returned a different certificate")
	}
	if !again.Key.Equal(ca.Key) {
		t.Error("second LoadOrCreate returned a different key")
	}
}

func TestLoadOrCreateNoDir(t *testing.T) {
	if _, _, err := LoadOrCreate(Options{}); err == nil {
		t.Error("LoadOrCreate with empty Dir: no error")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadOrCreate(Options{Dir: file})
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("LoadOrCreate with a file as Dir: err = %v, want one naming %s", err, file)
	}
}

// writeCertAndKey writes a certificate made from tmpl, self-signed with a new
// P-256 key, and that key to ca.pem and ca-key.pem in dir.
func writeCertAndKey(t *testing.T, dir string, tmpl *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	writeFile(t, filepath.Join(dir, "ca-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

func writeFile(t *testing.T, path string, data []byte, perm fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile's mode is subject to the umask
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	// Each case starts from a valid CA in dir and breaks it.
	tests := []struct {
		name     string
		breakIt  func(t *testing.T, dir string)
		wantFile string   // base name the error must name
		wantText []string // further substrings the error must contain
	}{
		{
			name: "corrupted cert",
			breakIt: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "ca.pem"), []byte("this is not a certificate\n"), 0o644)
			},
			wantFile: "ca.pem",
			wantText: []string{"not a PEM file"},
		},
		{
			name: "cert PEM with bad DER",
			breakIt: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), 0o644)
			},
			wantFile: "ca.pem",
			wantText: []string{"parsing certificate"},
		},
		{
			name: "garbage key",
			breakIt: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "ca-key.pem"), []byte("\x00\x01garbage"), 0o600)
			},
			wantFile: "ca-key.pem",
			wantText: []string{"not a PEM file"},
		},
		{
			name: "key PEM with bad DER",
			breakIt: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "ca-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}), 0o600)
			},
			wantFile: "ca-key.pem",
			wantText: []string{"PKCS#8"},
		},
		{
			name: "key of another CA",
			breakIt: func(t *testing.T, dir string) {
				other := newTestCA(t, nil)
				data, err := os.ReadFile(other.KeyPath())
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, "ca-key.pem"), data, 0o600)
			},
			wantFile: "ca-key.pem",
			wantText: []string{"does not match", "ca.pem"},
		},
		{
			name: "RSA key",
			breakIt: func(t *testing.T, dir string) {
				key, err := rsa.GenerateKey(rand.Reader, 1024)
				if err != nil {
					t.Fatal(err)
				}
				der, err := x509.MarshalPKCS8PrivateKey(key)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, "ca-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
			},
			wantFile: "ca-key.pem",
			wantText: []string{"RSA", "ECDSA"},
		},
		{
			name: "only cert",
			breakIt: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "ca-key.pem")); err != nil {
					t.Fatal(err)
				}
			},
			wantFile: "ca-key.pem",
			wantText: []string{"missing", "ca.pem"},
		},
		{
			name: "only key",
			breakIt: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "ca.pem")); err != nil {
					t.Fatal(err)
				}
			},
			wantFile: "ca.pem",
			wantText: []string{"missing", "ca-key.pem"},
		},
		{
			name: "key mode 0644",
			breakIt: func(t *testing.T, dir string) {
				if err := os.Chmod(filepath.Join(dir, "ca-key.pem"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantFile: "ca-key.pem",
			wantText: []string{"0644", "chmod 600", "pixelwall ca regenerate"},
		},
		{
			name: "not a CA",
			breakIt: func(t *testing.T, dir string) {
				writeCertAndKey(t, dir, &x509.Certificate{
					SerialNumber: big.NewInt(7),
					Subject:      pkix.Name{CommonName: "leaf"},
					NotBefore:    time.Now().Add(-time.Hour),
					NotAfter:     time.Now().Add(time.Hour),
					KeyUsage:     x509.KeyUsageDigitalSignature,
				})
			},
			wantFile: "ca.pem",
			wantText: []string{"not a CA"},
		},
		{
			name: "key in cert file",
			breakIt: func(t *testing.T, dir string) {
				data, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, "ca.pem"), data, 0o644)
			},
			wantFile: "ca.pem",
			wantText: []string{`"PRIVATE KEY"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && strings.Contains(tt.name, "mode") {
				t.Skip("no permission bits on Windows")
			}
			dir := t.TempDir()
			if _, _, err := LoadOrCreate(Options{Dir: dir}); err != nil {
				t.Fatal(err)
			}
			tt.breakIt(t, dir)
			before := snapshot(t, dir)
			ca, created, err := LoadOrCreate(Options{Dir: dir})
			if err == nil {
				t.Fatalf("LoadOrCreate succeeded (created=%v, CN %q), want an error", created, ca.Cert.Subject.CommonName)
			}
			if path := filepath.Join(dir, tt.wantFile); !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("a failed LoadOrCreate changed the directory:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshot describes a directory's files, contents and modes.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		b.WriteString(e.Name() + " " + fi.Mode().String() + " " + base64.StdEncoding.EncodeToString(sum[:8]) + "; ")
	}
	return b.String()
}

func TestLoadExpired(t *testing.T) {
	clock := newFakeClock()
	dir := t.TempDir()
	opts := Options{Dir: dir, Validity: 24 * time.Hour, Now: clock.Now}
	ca, _, err := LoadOrCreate(opts)
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(ca.Cert.NotAfter.Add(time.Second))
	_, _, err = LoadOrCreate(opts)
	if err == nil {
		t.Fatal("LoadOrCreate of an expired CA succeeded")
	}
	for _, s := range []string{ca.CertPath(), "expired", "pixelwall ca regenerate"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}

	// A Signer refuses to sign with it too.
	s := NewSigner(ca, SignerOptions{Now: clock.Now})
	if _, err := s.Certificate("example.test"); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("Certificate with an expired CA: err = %v, want an expiry error", err)
	}
	if _, signed, size := s.Stats(); signed != 0 || size != 0 {
		t.Errorf("after a failed signing: signed=%d size=%d, want 0 0", signed, size)
	}

	// Regenerate fixes it.
	if _, err := Regenerate(opts); err != nil {
		t.Fatal(err)
	}
	if _, created, err := LoadOrCreate(opts); err != nil || created {
		t.Errorf("LoadOrCreate after Regenerate: created=%v err=%v", created, err)
	}
}

func TestLoadSEC1AndECParameters(t *testing.T) {
	// Key files written by `openssl ecparam -genkey` hold an EC PARAMETERS
	// block before the SEC 1 key.
	dir := t.TempDir()
	ca, _, err := LoadOrCreate(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...)
	writeFile(t, ca.KeyPath(), data, 0o600)
	again, _, err := LoadOrCreate(Options{Dir: dir})
	if err != nil {
		t.Fatalf("LoadOrCreate with a SEC 1 key: %v", err)
	}
	if !again.Key.Equal(ca.Key) {
		t.Error("loaded a different key")
	}
}

func TestRegenerate(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir}
	old, _, err := LoadOrCreate(opts)
	if err != nil {
		t.Fatal(err)
	}
	oldCert, err := os.ReadFile(old.CertPath())
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := os.ReadFile(old.KeyPath())
	if err != nil {
		t.Fatal(err)
	}

	ca, err := Regenerate(opts)
	if err != nil {
		t.Fatalf("Regenerate: %v", err)
	}
	if ca.Key.Equal(old.Key) {
		t.Error("Regenerate kept the old key")
	}
	if ca.Cert.SerialNumber.Cmp(old.Cert.SerialNumber) == 0 {
		t.Error("Regenerate kept the old serial")
	}
	if ca.Fingerprint() == old.Fingerprint() {
		t.Error("Regenerate kept the old fingerprint")
	}

	for _, f := range []struct {
		path string
		want []byte
		mode fs.FileMode
	}{
		{filepath.Join(dir, "ca.pem.old"), oldCert, 0o644},
		{filepath.Join(dir, "ca-key.pem.old"), oldKey, 0o600},
	} {
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Errorf("old file not kept: %v", err)
			continue
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s differs from the previous file", f.path)
		}
		checkMode(t, f.path, f.mode)
	}
	checkMode(t, ca.CertPath(), 0o644)
	checkMode(t, ca.KeyPath(), 0o600)

	loaded, created, err := LoadOrCreate(opts)
	if err != nil || created {
		t.Fatalf("LoadOrCreate after Regenerate: created=%v err=%v", created, err)
	}
	if !loaded.Cert.Equal(ca.Cert) || !loaded.Key.Equal(ca.Key) {
		t.Error("LoadOrCreate after Regenerate loaded something else")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("directory holds %d entries, want 4 (no temporary files left)", len(entries))
	}

	// Regenerate also recovers a directory LoadOrCreate refuses.
	half := t.TempDir()
	writeFile(t, filepath.Join(half, "ca.pem"), []byte("junk"), 0o644)
	if _, err := Regenerate(Options{Dir: half}); err != nil {
		t.Fatalf("Regenerate over a half-present CA: %v", err)
	}
	if _, created, err := LoadOrCreate(Options{Dir: half}); err != nil || created {
		t.Errorf("LoadOrCreate after recovering Regenerate: created=%v err=%v", created, err)
	}
	if _, err := os.Stat(filepath.Join(half, "ca-key.pem.old")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ca-key.pem.old made from no key: stat err = %v", err)
	}
}

func TestFingerprintAndSPKIHash(t *testing.T) {
	ca := newTestCA(t, nil)
	fp := ca.Fingerprint()
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("Fingerprint %q is not 32 upper-case hex pairs joined by ':'", fp)
	}
	sum := sha256.Sum256(ca.CertDER())
	if want := strings.ToUpper(strings.Join(hexPairs(sum[:]), ":")); fp != want {
		t.Errorf("Fingerprint = %s, want %s", fp, want)
	}

	spki := ca.SPKIHash()
	spkiSum := sha256.Sum256(ca.Cert.RawSubjectPublicKeyInfo)
	if want := base64.StdEncoding.EncodeToString(spkiSum[:]); spki != want {
		t.Errorf("SPKIHash = %s, want %s", spki, want)
	}
	if len(spki) != 44 || !strings.HasSuffix(spki, "=") {
		t.Errorf("SPKIHash %q is not standard base64 of 32 bytes", spki)
	}
}

func hexPairs(b []byte) []string {
	const digits = "0123456789abcdef"
	out := make([]string, len(b))
	for i, c := range b {
		out[i] = string([]byte{digits[c>>4], digits[c&15]})
	}
	return out
}

func TestLeaf(t *testing.T) {
	clock := newFakeClock()
	ca := newTestCA(t, clock.Now)
	const validity = 48 * time.Hour
	s := NewSigner(ca, SignerOptions{Validity: validity, Now: clock.Now})
	pool := caPool(ca)

	tests := []struct {
		host    string
		verify  string // name to verify against
		wantDNS string
		wantIP  string
	}{
		{host: "www.example.test", verify: "www.example.test", wantDNS: "www.example.test"},
		{host: "WWW.Example.TEST.", verify: "www.example.test", wantDNS: "www.example.test"},
		{host: "localhost", verify: "localhost", wantDNS: "localhost"},
		{host: "192.0.2.7", verify: "192.0.2.7", wantIP: "192.0.2.7"},
		{host: "2001:db8::1", verify: "2001:db8::1", wantIP: "2001:db8::1"},
		{host: "[2001:DB8::2]", verify: "2001:db8::2", wantIP: "2001:db8::2"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			tc, err := s.Certificate(tt.host)
			if err != nil {
				t.Fatalf("Certificate: %v", err)
			}
			if len(tc.Certificate) != 2 || !bytes.Equal(tc.Certificate[1], ca.CertDER()) {
				t.Fatalf("chain has %d certificates, want [leaf, CA]", len(tc.Certificate))
			}
			leaf := tc.Leaf
			if leaf == nil || !bytes.Equal(leaf.Raw, tc.Certificate[0]) {
				t.Fatal("Leaf not set to the parsed first certificate")
			}
			priv, ok := tc.PrivateKey.(*ecdsa.PrivateKey)
			if !ok || priv.Curve != elliptic.P256() || !priv.PublicKey.Equal(leaf.PublicKey) {
				t.Fatalf("PrivateKey %T does not match the leaf or is not P-256", tc.PrivateKey)
			}
			if priv.Equal(ca.Key) {
				t.Fatal("leaf uses the CA key")
			}

			_, err = leaf.Verify(x509.VerifyOptions{
				DNSName:     tt.verify,
				Roots:       pool,
				CurrentTime: clock.Now(),
				KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				t.Errorf("Verify(%s): %v", tt.verify, err)
			}

			if tt.wantDNS != "" {
				if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != tt.wantDNS || len(leaf.IPAddresses) != 0 {
					t.Errorf("SANs DNS %q IP %v, want DNS [%s]", leaf.DNSNames, leaf.IPAddresses, tt.wantDNS)
				}
				if leaf.Subject.CommonName != tt.wantDNS {
					t.Errorf("CN = %q, want %q", leaf.Subject.CommonName, tt.wantDNS)
				}
			} else {
				if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP(tt.wantIP)) || len(leaf.DNSNames) != 0 {
					t.Errorf("SANs DNS %q IP %v, want IP [%s]", leaf.DNSNames, leaf.IPAddresses, tt.wantIP)
				}
				if leaf.Subject.CommonName != tt.wantIP {
					t.Errorf("CN = %q, want %q", leaf.Subject.CommonName, tt.wantIP)
				}
			}
			if leaf.IsCA {
				t.Error("leaf is a CA")
			}
			if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("KeyUsage = %v, want DigitalSignature", leaf.KeyUsage)
			}
			if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
				t.Errorf("ExtKeyUsage = %v, want [ServerAuth]", leaf.ExtKeyUsage)
			}
			if !bytes.Equal(leaf.AuthorityKeyId, ca.Cert.SubjectKeyId) {
				t.Errorf("AuthorityKeyId %x, want the CA's SubjectKeyId %x", leaf.AuthorityKeyId, ca.Cert.SubjectKeyId)
			}
			if got, want := leaf.NotBefore, clock.Now().Add(-time.Hour); !got.Equal(want) {
				t.Errorf("NotBefore = %v, want %v", got, want)
			}
			if got, want := leaf.NotAfter, clock.Now().Add(validity); !got.Equal(want) {
				t.Errorf("NotAfter = %v, want now+Validity %v", got, want)
			}
			if leaf.NotAfter.After(ca.Cert.NotAfter) {
				t.Errorf("leaf NotAfter %v after CA NotAfter %v", leaf.NotAfter, ca.Cert.NotAfter)
			}
		})
	}

	// Spellings of one host share one cache entry.
	if _, signed, size := s.Stats(); signed != 5 || size != 5 {
		t.Errorf("Stats: signed=%d size=%d, want 5 5 (upper-case/trailing-dot name shares an entry)", signed, size)
	}
}

func TestLeafDefaultValidity(t *testing.T) {
	ca := newTestCA(t, nil)
	s := NewSigner(ca, SignerOptions{})
	start := time.Now()
	tc, err := s.Certificate("example.test")
	if err != nil {
		t.Fatal(err)
	}
	want := start.Add(7 * 24 * time.Hour)
	if d := tc.Leaf.NotAfter.Sub(want); d < -2*time.Second || d > time.Minute {
		t.Errorf("NotAfter = %v, want ≈ now+7d (%v)", tc.Leaf.NotAfter, want)
	}
	if _, err := tc.Leaf.Verify(x509.VerifyOptions{DNSName: "example.test", Roots: caPool(ca)}); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestLeafCappedByCA(t *testing.T) {
	clock := newFakeClock()
	ca, _, err := LoadOrCreate(Options{Dir: t.TempDir(), Validity: 48 * time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSigner(ca, SignerOptions{Validity: 7 * 24 * time.Hour, Now: clock.Now})
	tc, err := s.Certificate("example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !tc.Leaf.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("leaf NotAfter %v, want the CA's %v", tc.Leaf.NotAfter, ca.Cert.NotAfter)
	}
}

func TestInvalidHosts(t *testing.T) {
	s := NewSigner(newTestCA(t, nil), SignerOptions{})
	for _, host := range []string{
		"",
		".",
		"example.com:443",
		"[::1]:443",
		"bad host",
		"a..b",
		"ex/ample.com",
		"bücher.example",
		strings.Repeat("a", 64) + ".example",
		strings.Repeat("abcdefghi.", 26),
		"fe80::1%eth0",
	} {
		tc, err := s.Certificate(host)
		if err == nil {
			t.Errorf("Certificate(%q) = cert for %q, want an error", host, tc.Leaf.Subject.CommonName)
			continue
		}
		if !strings.Contains(err.Error(), "invalid host") {
			t.Errorf("Certificate(%q): error %q does not say the host is invalid", host, err)
		}
	}
	if _, signed, _ := s.Stats(); signed != 0 {
		t.Errorf("signed %d leaves for invalid hosts", signed)
	}
}

// startTLSServer serves config on 127.0.0.1: each connection reads a line
// and answers "pong " + line.
func startTLSServer(t *testing.T, config *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(ln, config)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		tln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := tln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil {
					return
				}
				io.WriteString(conn, "pong "+line)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestTLSHandshake(t *testing.T) {
	ca := newTestCA(t, nil)
	s := NewSigner(ca, SignerOptions{})
	pool := caPool(ca)

	tests := []struct {
		name       string
		host       string // TLSConfig argument
		serverName string // client's ServerName; an IP sends no SNI
		wantCN     string
	}{
		{"SNI matches host", "example.test", "example.test", "example.test"},
		{"SNI differs from host", "example.test", "other.example.test", "other.example.test"},
		{"no SNI uses host", "127.0.0.1", "127.0.0.1", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startTLSServer(t, s.TLSConfig(tt.host))
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{
				RootCAs:    pool,
				ServerName: tt.serverName,
				NextProtos: []string{"h2", "http/1.1"},
			})
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, "ping\n"); err != nil {
				t.Fatal(err)
			}
			reply, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if reply != "pong ping\n" {
				t.Errorf("reply %q, want %q", reply, "pong ping\n")
			}
			st := conn.ConnectionState()
			if got := st.PeerCertificates[0].Subject.CommonName; got != tt.wantCN {
				t.Errorf("server certificate for %q, want %q", got, tt.wantCN)
			}
			if st.NegotiatedProtocol != "http/1.1" {
				t.Errorf("ALPN %q, want http/1.1", st.NegotiatedProtocol)
			}
			if st.Version < tls.VersionTLS12 {
				t.Errorf("TLS version %x, want ≥ 1.2", st.Version)
			}
		})
	}

	// TLS 1.1 is refused.
	addr := startTLSServer(t, s.TLSConfig("example.test"))
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "example.test", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Error("TLS 1.1 handshake succeeded")
	}
}

func TestSingleFlight(t *testing.T) {
	const n = 64
	s := NewSigner(newTestCA(t, nil), SignerOptions{})
	var joining atomic.Int32
	allJoining := make(chan struct{})
	s.hookJoin = func(string) {
		if joining.Add(1) == n {
			close(allJoining)
		}
	}
	// The one signer holds off until every caller has missed the cache and
	// is joining its flight, so the test proves they waited rather than hit
	// the cache; the pause lets the last ones reach the flight.
	s.hookSign = func(string) {
		select {
		case <-allJoining:
			time.Sleep(50 * time.Millisecond)
		case <-time.After(10 * time.Second):
			t.Error("the other callers did not join the in-flight signing")
		}
	}

	start := make(chan struct{})
	certs := make([]*tls.Certificate, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			certs[i], errs[i] = s.Certificate("flight.example.test")
		})
	}
	close(start)
	wg.Wait()

	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if certs[i] != certs[0] {
			t.Errorf("caller %d got a different *tls.Certificate", i)
		}
	}
	hits, signed, size := s.Stats()
	if signed != 1 || hits != n-1 || size != 1 {
		t.Errorf("Stats = hits %d, signed %d, size %d; want %d, 1, 1", hits, signed, size, n-1)
	}
}

func TestConcurrentHosts(t *testing.T) {
	// Many goroutines on a few hosts with a small cache, for the race
	// detector.
	s := NewSigner(newTestCA(t, nil), SignerOptions{Capacity: 3})
	hosts := []string{"a.test", "b.test", "c.test", "d.test", "10.0.0.1"}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				h := hosts[(g+i)%len(hosts)]
				tc, err := s.Certificate(h)
				if err != nil {
					t.Error(err)
					return
				}
				if tc.Leaf.Subject.CommonName != h {
					t.Errorf("Certificate(%s) gave a leaf for %s", h, tc.Leaf.Subject.CommonName)
				}
			}
		})
	}
	wg.Wait()
	hits, signed, size := s.Stats()
	if hits+signed != 16*20 || size > 3 {
		t.Errorf("Stats = hits %d, signed %d, size %d; want hits+signed = 320, size ≤ 3", hits, signed, size)
	}
}

func TestLRU(t *testing.T) {
	s := NewSigner(newTestCA(t, nil), SignerOptions{Capacity: 2})
	get := func(host string) *tls.Certificate {
		t.Helper()
		tc, err := s.Certificate(host)
		if err != nil {
			t.Fatal(err)
		}
		return tc
	}
	wantStats := func(wantHits, wantSigned uint64, wantSize int) {
		t.Helper()
		if hits, signed, size := s.Stats(); hits != wantHits || signed != wantSigned || size != wantSize {
			t.Errorf("Stats = hits %d, signed %d, size %d; want %d, %d, %d", hits, signed, size, wantHits, wantSigned, wantSize)
		}
	}

	a := get("a.test")
	b := get("b.test")
	if get("a.test") != a {
		t.Error("a.test re-signed while cached")
	}
	get("c.test") // evicts b, the least recently used
	wantStats(1, 3, 2)

	if get("a.test") != a {
		t.Error("a.test was evicted, want b.test evicted")
	}
	wantStats(2, 3, 2)
	if get("b.test") == b {
		t.Error("b.test still cached, want it evicted")
	}
	wantStats(2, 4, 2)
}

func TestRenewal(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	ca := newTestCA(t, clock.Now)
	const validity = 24 * time.Hour
	s := NewSigner(ca, SignerOptions{Validity: validity, Now: clock.Now})

	first, err := s.Certificate("renew.test")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at       time.Duration // after start
		resigned bool
	}{
		{validity - 2*time.Hour, false},
		{validity - time.Hour - time.Second, false},
		{validity - time.Hour, true},       // within an hour of expiry
		{validity - 30*time.Minute, false}, // the new leaf is fresh
		{3 * validity, true},               // expired
	}
	prev := first
	var wantSigned uint64 = 1
	for _, st := range steps {
		clock.Set(start.Add(st.at))
		tc, err := s.Certificate("renew.test")
		if err != nil {
			t.Fatal(err)
		}
		if resigned := tc != prev; resigned != st.resigned {
			t.Errorf("at start+%v: re-signed = %v, want %v", st.at, resigned, st.resigned)
		}
		if st.resigned {
			wantSigned++
			if got, want := tc.Leaf.NotAfter, clock.Now().Add(validity); !got.Equal(want) {
				t.Errorf("at start+%v: new leaf NotAfter %v, want %v", st.at, got, want)
			}
		}
		prev = tc
	}
	if _, signed, size := s.Stats(); signed != wantSigned || size != 1 {
		t.Errorf("Stats: signed %d size %d, want %d 1", signed, size, wantSigned)
	}
}
