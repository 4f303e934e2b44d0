package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files of the generated certificate inside data_dir (tls: auto). They are kept, so that a
// client told to trust the certificate keeps trusting it across restarts.
const (
	autoCertFile = "tls-cert.pem"
	autoKeyFile  = "tls-key.pem"
)

// tlsConfig returns the HTTPS configuration: TLS 1.2 or higher (X1), with the configured
// certificate or one generated for localhost.
func (s *Sandbox) tlsConfig() (*tls.Config, error) {
	certFile, keyFile := s.cfg.TLS.Cert, s.cfg.TLS.Key
	if s.cfg.TLS.Auto() {
		certFile, keyFile = filepath.Join(s.cfg.DataDir, autoCertFile), filepath.Join(s.cfg.DataDir, autoKeyFile)
		if _, err := os.Stat(certFile); os.IsNotExist(err) {
			if err := generateCert(certFile, keyFile); err != nil {
				return nil, fmt.Errorf("tls: auto: %w", err)
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: tls: %w", s.cfg.Origin("tls"), err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// AutoCertFile returns the generated certificate's path, for clients to trust.
func (s *Sandbox) AutoCertFile() string {
	if !s.cfg.TLS.Auto() {
		return ""
	}
	return filepath.Join(s.cfg.DataDir, autoCertFile)
}

func generateCert(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"ogsandbox"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
