package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

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
