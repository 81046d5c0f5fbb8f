package certs

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"
)

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
