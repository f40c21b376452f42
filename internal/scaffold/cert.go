package scaffold

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/muelle-dev/muelle/internal/atomicfile"
)

// Certificate files nginx reads, under deploy/certs.
const (
	CertDir  = "deploy/certs"
	CertFile = "fullchain.pem"
	KeyFile  = "privkey.pem"
)

// EnsureCertificate writes a self-signed certificate for hosts (plus
// localhost) into root's deploy/certs when no certificate is there, so the
// stack starts before a real one exists. It reports whether it wrote one.
func EnsureCertificate(root string, hosts []string) (bool, error) {
	dir := filepath.Join(root, filepath.FromSlash(CertDir))
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	if certErr == nil && keyErr == nil {
		return false, nil
	}
	if (certErr == nil) != (keyErr == nil) {
		return false, fmt.Errorf("%s holds only one of %s and %s: add the other, or remove both to get a self-signed pair", CertDir, CertFile, KeyFile)
	}
	if !errors.Is(certErr, fs.ErrNotExist) {
		return false, fmt.Errorf("certificate: %w", certErr)
	}
	certPEM, keyPEM, err := selfSigned(hosts, time.Now())
	if err != nil {
		return false, err
	}
	if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
		return false, err
	}
	if err := atomicfile.Write(certPath, certPEM, 0o644); err != nil {
		return false, err
	}
	return true, nil
}

func selfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "muelle self-signed", Organization: []string{"muelle (replace with a real certificate)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	seen := map[string]bool{}
	for _, h := range slices.Concat(hosts, []string{"localhost", "127.0.0.1", "::1"}) {
		if h == "" || h == "*" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
