package seal

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
)

var b64url = base64.RawURLEncoding.Strict()

// generateKey makes a new key pair of alg.
func generateKey(alg Alg) (crypto.Signer, error) {
	switch alg {
	case AlgEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case AlgES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return nil, fmt.Errorf("unknown key algorithm %q", alg)
}

// algOf returns the algorithm of a public key the hub can use.
func algOf(pub crypto.PublicKey) (Alg, bool) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return AlgEd25519, len(k) == ed25519.PublicKeySize
	case *ecdsa.PublicKey:
		return AlgES256, k.Curve == elliptic.P256()
	}
	return "", false
}

// jwkMembers returns the required members of the public key's JWK
// (RFC 7517/7518/8037) as ordered name/value pairs, sorted by name as
// RFC 7638 requires for thumbprints.
func jwkMembers(pub crypto.PublicKey) ([][2]string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return [][2]string{{"crv", "Ed25519"}, {"kty", "OKP"}, {"x", b64url.EncodeToString(k)}}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			break
		}
		raw, err := k.Bytes() // uncompressed point 0x04 || X || Y
		if err != nil {
			return nil, err
		}
		return [][2]string{{"crv", "P-256"}, {"kty", "EC"},
			{"x", b64url.EncodeToString(raw[1:33])}, {"y", b64url.EncodeToString(raw[33:65])}}, nil
	}
	return nil, errors.New("unsupported public key type")
}

// keyID returns the RFC 7638 JWK thumbprint of pub, the hub's kid.
func keyID(pub crypto.PublicKey) (string, error) {
	m, err := jwkMembers(pub)
	if err != nil {
		return "", err
	}
	b := []byte{'{'}
	for i, kv := range m {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, kv[0])
		b = append(b, ':')
		b = appendJSONString(b, kv[1])
	}
	b = append(b, '}')
	sum := sha256.Sum256(b)
	return b64url.EncodeToString(sum[:]), nil
}

// certThumbprint is the x5t#S256 of a DER certificate.
func certThumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return b64url.EncodeToString(sum[:])
}

// marshalPrivate encodes a private key as PKCS #8 DER, the form encrypted
// under the master key.
func marshalPrivate(k crypto.Signer) ([]byte, error) {
	return x509.MarshalPKCS8PrivateKey(k)
}

func parsePrivate(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("private key cannot sign")
	}
	if _, ok := algOf(s.Public()); !ok {
		return nil, errors.New("unsupported private key type")
	}
	return s, nil
}
