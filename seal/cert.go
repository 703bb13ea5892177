package seal

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// oidOrganizationIdentifier (X.520 organizationIdentifier, 2.5.4.97)
// carries the organisation's 统一社会信用代码 in seal certificates.
var oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// CAValidity is how long a new hub seal CA certificate is valid.
const CAValidity = 30 * 365 * 24 * time.Hour

// authority is one hub seal CA certificate; priv is set only while issuing.
type authority struct {
	id   string
	cert *x509.Certificate
	der  []byte
	b64  string // standard base64 of der, as it appears in x5c
	priv ed25519.PrivateKey
}

func newAuthority(id string, der []byte) (*authority, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("seal CA %s: %w", id, err)
	}
	if !c.IsCA || !c.BasicConstraintsValid {
		return nil, fmt.Errorf("seal CA %s: certificate is not a CA", id)
	}
	return &authority{id: id, cert: c, der: der, b64: base64.StdEncoding.EncodeToString(der)}, nil
}

// createAuthority makes a new self-signed Ed25519 root for the hub.
func createAuthority(name string, now time.Time) (*authority, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	id, err := keyID(pub)
	if err != nil {
		return nil, err
	}
	id = "ca-" + id[:16]
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: name, SerialNumber: id},
		NotBefore:             now.Add(-time.Hour).Truncate(time.Second),
		NotAfter:              now.Add(CAValidity).Truncate(time.Second),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, err
	}
	a, err := newAuthority(id, der)
	if err != nil {
		return nil, err
	}
	a.priv = priv
	return a, nil
}

// issue certifies pub as the key of seal s for the seal's validity window.
func (a *authority) issue(s *Seal, pub crypto.PublicKey) ([]byte, error) {
	if a.priv == nil {
		return nil, errors.New("seal CA private key not loaded")
	}
	if s.ValidUntil.After(a.cert.NotAfter) {
		return nil, fmt.Errorf("the seal's validity ends after the hub CA's (%s)", a.cert.NotAfter.Format(time.DateOnly))
	}
	// A seal valid since before the CA existed (one taken over from an
	// older system) gets a certificate from the CA's start; signatures
	// cannot predate the key anyway.
	notBefore := s.ValidFrom
	if notBefore.Before(a.cert.NotBefore) {
		notBefore = a.cert.NotBefore
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			CommonName:         s.Name,
			Organization:       []string{s.Organisation.Name},
			OrganizationalUnit: []string{string(s.Kind)},
			SerialNumber:       s.ID,
			ExtraNames:         []pkix.AttributeTypeAndValue{{Type: oidOrganizationIdentifier, Value: s.Organisation.CreditCode}},
		},
		NotBefore:             notBefore,
		NotAfter:              s.ValidUntil,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, a.cert, pub, a.priv)
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

// certEntry is a parsed seal certificate that chains to a trusted CA.
// Entries are cached by their x5c text, so a known certificate costs one
// map lookup per verification.
type certEntry struct {
	cert       *x509.Certificate
	thumbprint string // x5t#S256
	pub        crypto.PublicKey
	alg        Alg
	sealID     string
	sealName   string
	kind       Kind
	org        Organisation // name and credit code as certified
	issuer     *authority
}

// parseSealCert parses a seal certificate and finds the CA among cas that
// signed it. It returns ReasonMalformed or ReasonForeignCA with a detail.
func parseSealCert(der []byte, cas []*authority) (*certEntry, Reason, string) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, ReasonMalformed, "x5c[0] is not an X.509 certificate"
	}
	alg, ok := algOf(c.PublicKey)
	if !ok {
		return nil, ReasonAlgorithm, "certificate key is neither Ed25519 nor P-256"
	}
	var issuer *authority
	for _, ca := range cas {
		if c.CheckSignatureFrom(ca.cert) == nil {
			issuer = ca
			break
		}
	}
	if issuer == nil {
		return nil, ReasonForeignCA, "certificate " + c.Subject.String() + " is not signed by this hub's seal CA"
	}
	if c.IsCA {
		return nil, ReasonForeignCA, "certificate is a CA certificate, not a seal certificate"
	}
	e := &certEntry{
		cert:       c,
		thumbprint: certThumbprint(der),
		pub:        c.PublicKey,
		alg:        alg,
		sealID:     c.Subject.SerialNumber,
		sealName:   c.Subject.CommonName,
		issuer:     issuer,
	}
	if len(c.Subject.Organization) > 0 {
		e.org.Name = c.Subject.Organization[0]
	}
	if len(c.Subject.OrganizationalUnit) > 0 {
		e.kind = Kind(c.Subject.OrganizationalUnit[0])
	}
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidOrganizationIdentifier) {
			e.org.CreditCode, _ = n.Value.(string)
		}
	}
	return e, "", ""
}

// ParseCertificates reads certificates in PEM ("CERTIFICATE" blocks) or a
// single DER certificate, e.g. the hub CA for offline verification.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) > 0 {
		return out, nil
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, errors.New("no PEM CERTIFICATE block and not a DER certificate")
	}
	return []*x509.Certificate{c}, nil
}

// encodePEM writes certificates as PEM.
func encodePEM(ders ...[]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}
