package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// Keys of the Secret: tls.crt and tls.key (the kubernetes.io/tls type's),
// ca.crt (the bundle of every CA in force, newest first) and ca.key (their
// keys, in the same order).
const (
	KeyCert     = "tls.crt"
	KeyKey      = "tls.key"
	KeyCABundle = "ca.crt"
	KeyCAKeys   = "ca.key"
)

// backdate is how far before its issue a certificate's validity starts, for
// clocks that run behind ours.
const backdate = 5 * time.Minute

// Names written into the certificates.
const (
	caCommonName   = "zerodrop-ca"
	certCommonName = "zerodrop"
)

// authority is one CA with its key.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// material is what the Secret holds, parsed: the CAs newest first, and the
// serving certificate with its key (nil when absent or unreadable).
type material struct {
	cas  []authority
	cert *x509.Certificate
	// certPEM and keyPEM are the serving pair as stored.
	certPEM, keyPEM []byte
}

// parseMaterial reads the Secret's data. Unreadable parts count as absent,
// so that they are issued again rather than block the controller.
func parseMaterial(data map[string][]byte) material {
	var m material
	certs, err := certutil.ParseCertsPEM(data[KeyCABundle])
	keys := parseKeys(data[KeyCAKeys])
	if err == nil && len(certs) == len(keys) {
		for i := range certs {
			if certs[i].IsCA && publicKeysEqual(certs[i].PublicKey, keys[i].Public()) {
				m.cas = append(m.cas, authority{cert: certs[i], key: keys[i]})
			}
		}
	}
	if cs, err := certutil.ParseCertsPEM(data[KeyCert]); err == nil && len(cs) > 0 {
		if k, err := keyutil.ParsePrivateKeyPEM(data[KeyKey]); err == nil {
			if s, ok := k.(crypto.Signer); ok && publicKeysEqual(cs[0].PublicKey, s.Public()) {
				m.cert, m.certPEM, m.keyPEM = cs[0], data[KeyCert], data[KeyKey]
			}
		}
	}
	return m
}

// parseKeys returns every private key in the PEM data, in order.
func parseKeys(data []byte) []crypto.Signer {
	var keys []crypto.Signer
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return keys
		}
		k, err := keyutil.ParsePrivateKeyPEM(pem.EncodeToMemory(block))
		if err != nil {
			return nil
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil
		}
		keys = append(keys, s)
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// Validity says how long the CA and serving certificates live. Each is
// renewed once less than a third of its validity is left.
type Validity struct {
	CA, Cert time.Duration
}

// renewAt is when a certificate issued for validity is due for renewal.
func renewAt(c *x509.Certificate, validity time.Duration) time.Time {
	return c.NotAfter.Add(-validity / 3)
}

// prune returns the CAs that have not expired at now, in order.
func prune(cas []authority, now time.Time) []authority {
	return slices.DeleteFunc(slices.Clone(cas), func(a authority) bool { return !now.Before(a.cert.NotAfter) })
}

// caDue says whether a new CA must be added in front of cas at now: there
// is none, or the newest has less than a third of its validity left. The
// older ones stay in the bundle until they expire, so that whoever trusts
// them keeps working.
func caDue(cas []authority, v Validity, now time.Time) bool {
	return len(cas) == 0 || !now.Before(renewAt(cas[0].cert, v.CA))
}

// certDue says whether the serving certificate must be issued again at now
// by signer: there is none, it has less than a third of its validity left,
// it names other hosts than dnsNames (DNS names or IP addresses), or signer
// did not sign it.
func certDue(cert *x509.Certificate, s authority, dnsNames []string, v Validity, now time.Time) bool {
	return cert == nil ||
		!now.Before(renewAt(cert, v.Cert)) ||
		!now.Before(cert.NotAfter) ||
		!sameNames(cert, dnsNames) ||
		cert.CheckSignatureFrom(s.cert) != nil
}

// signer returns the CA that signs serving certificates at now: the oldest
// one that outlives a new serving certificate, so that a new CA enters the
// bundle (and every pod and API server that reads it) long before it signs;
// the newest when none does.
func signer(cas []authority, v Validity, now time.Time) authority {
	for i := len(cas) - 1; i >= 0; i-- {
		if !cas[i].cert.NotAfter.Before(now.Add(v.Cert)) {
			return cas[i]
		}
	}
	return cas[0]
}

// sameNames says whether c is issued for exactly names.
func sameNames(c *x509.Certificate, names []string) bool {
	have := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		have = append(have, ip.String())
	}
	return slices.Equal(slices.Sorted(slices.Values(have)), slices.Sorted(slices.Values(names)))
}

// splitNames returns the DNS names and the IP addresses among names.
func splitNames(names []string) (dns []string, ips []net.IP) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, n)
		}
	}
	return dns, ips
}

// newAuthority generates a CA valid from now for validity.
func newAuthority(now time.Time, validity time.Duration) (authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return authority{}, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return authority{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caCommonName, SerialNumber: serial.String()},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return authority{}, fmt.Errorf("self-signing CA: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return authority{}, fmt.Errorf("parsing CA: %w", err)
	}
	return authority{cert: c, key: key}, nil
}

// issue signs a serving certificate for names (DNS names or IP addresses),
// valid from now for
// validity but never past the CA's own end. It returns the certificate and
// key, PEM-encoded.
func (ca authority) issue(names []string, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if len(names) == 0 {
		return nil, nil, errors.New("no names to issue a serving certificate for")
	}
	dnsNames, ips := splitNames(names)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating serving key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(validity)
	if ca.cert.NotAfter.Before(notAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: certCommonName},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing serving certificate: %w", err)
	}
	keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding serving key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateBlockType, Bytes: der}), keyPEM, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

// encodeAuthorities returns the CA bundle and the keys, in order.
func encodeAuthorities(cas []authority) (bundle, keys []byte, err error) {
	var b, k bytes.Buffer
	for _, ca := range cas {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateBlockType, Bytes: ca.cert.Raw}))
		kp, err := keyutil.MarshalPrivateKeyToPEM(ca.key)
		if err != nil {
			return nil, nil, fmt.Errorf("encoding CA key: %w", err)
		}
		k.Write(kp)
	}
	return b.Bytes(), k.Bytes(), nil
}
