// Package certs manages pixelwall's local certificate authority and the
// short-lived leaf certificates it signs for HTTPS interception.
//
// The CA is an ECDSA P-256 key and a self-signed certificate kept as two PEM
// files, ca.pem and ca-key.pem, in a directory private to the user.
// [LoadOrCreate] loads them, or makes them on first run; [Regenerate] replaces
// them, keeping the previous pair as ca.pem.old and ca-key.pem.old. Loading is
// strict: a key file readable by group or other, a key that does not belong to
// the certificate, a certificate that is not a CA or has expired, or a
// directory holding only one of the two files is an error, never a silent
// overwrite.
//
// A [Signer] issues leaf certificates for the hosts the proxy intercepts,
// each with a fresh ECDSA P-256 key, and keeps the most recently used ones in
// a bounded LRU cache. Concurrent requests for the same host sign once.
// [Signer.TLSConfig] gives the server-side tls.Config for an intercepted
// connection.
package certs
