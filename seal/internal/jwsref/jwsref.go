// Package jwsref is a small JWS verifier written from RFC 7515 (JWS),
// RFC 7518 §3.4 (ES256) and RFC 8037 (EdDSA) on encoding/json,
// crypto/ed25519 and crypto/ecdsa alone. It shares no code with the seal
// package or any JOSE library: tests use it as an independent second
// implementation that must accept what the hub signs, and it checks itself
// against the RFCs' published examples.
//
// It accepts only the algorithms EdDSA (Ed25519) and ES256, rejects any
// "crit" header (it understands no extensions) and requires every
// signature of a JSON serialization to verify.
package jwsref

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

var b64 = base64.RawURLEncoding.Strict()

// PublicKey reads a public JWK: OKP/Ed25519 (RFC 8037 §2) or EC/P-256
// (RFC 7518 §6.2.1).
func PublicKey(jwk map[string]any) (crypto.PublicKey, error) {
	str := func(name string) (string, error) {
		v, ok := jwk[name].(string)
		if !ok {
			return "", fmt.Errorf("jwk: %s missing", name)
		}
		return v, nil
	}
	kty, err := str("kty")
	if err != nil {
		return nil, err
	}
	crv, err := str("crv")
	if err != nil {
		return nil, err
	}
	x, err := str("x")
	if err != nil {
		return nil, err
	}
	xb, err := b64.DecodeString(x)
	if err != nil {
		return nil, fmt.Errorf("jwk: x: %v", err)
	}
	switch {
	case kty == "OKP" && crv == "Ed25519":
		if len(xb) != ed25519.PublicKeySize {
			return nil, errors.New("jwk: Ed25519 x must be 32 bytes")
		}
		return ed25519.PublicKey(xb), nil
	case kty == "EC" && crv == "P-256":
		y, err := str("y")
		if err != nil {
			return nil, err
		}
		yb, err := b64.DecodeString(y)
		if err != nil || len(xb) != 32 || len(yb) != 32 {
			return nil, errors.New("jwk: P-256 x and y must be 32 bytes each")
		}
		k := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(xb), Y: new(big.Int).SetBytes(yb)}
		if !k.Curve.IsOnCurve(k.X, k.Y) {
			return nil, errors.New("jwk: point is not on P-256")
		}
		return k, nil
	}
	return nil, fmt.Errorf("jwk: unsupported kty %q crv %q", kty, crv)
}

// Key is one key of a JWK Set.
type Key struct {
	Public crypto.PublicKey
	// Thumbprint is the key's x5t#S256 member, if any.
	Thumbprint string
}

// KeySet reads a JWK Set (RFC 7517 §5) into keys by kid.
func KeySet(data []byte) (map[string]Key, error) {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, err
	}
	out := map[string]Key{}
	for i, m := range set.Keys {
		kid, _ := m["kid"].(string)
		if kid == "" {
			return nil, fmt.Errorf("jwks: key %d has no kid", i)
		}
		pub, err := PublicKey(m)
		if err != nil {
			return nil, fmt.Errorf("jwks: key %s: %v", kid, err)
		}
		t, _ := m["x5t#S256"].(string)
		out[kid] = Key{Public: pub, Thumbprint: t}
	}
	return out, nil
}

// verify checks one signature over signingInput with alg and key.
func verify(alg string, key crypto.PublicKey, signingInput, sig []byte) error {
	switch alg {
	case "EdDSA":
		k, ok := key.(ed25519.PublicKey)
		if !ok {
			return errors.New("EdDSA needs an Ed25519 key")
		}
		if !ed25519.Verify(k, signingInput, sig) {
			return errors.New("signature does not verify")
		}
		return nil
	case "ES256":
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return errors.New("ES256 needs a P-256 key")
		}
		if len(sig) != 64 {
			return errors.New("ES256 signature must be 64 bytes")
		}
		h := sha256.Sum256(signingInput)
		if !ecdsa.Verify(k, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return errors.New("signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("algorithm %q is not allowed", alg)
}

// decodeHeader decodes a protected header and applies the checks every
// signature needs: an allowed alg and no crit.
func decodeHeader(protectedB64 string) (map[string]any, string, error) {
	raw, err := b64.DecodeString(protectedB64)
	if err != nil {
		return nil, "", fmt.Errorf("protected header: %v", err)
	}
	var h map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	if err := d.Decode(&h); err != nil || d.More() {
		return nil, "", errors.New("protected header is not a JSON object")
	}
	alg, _ := h["alg"].(string)
	if _, ok := h["crit"]; ok {
		return nil, "", errors.New("crit header: no extensions are understood")
	}
	return h, alg, nil
}

// VerifyCompact verifies a JWS in compact serialization (RFC 7515 §7.1)
// and returns its payload and protected header.
func VerifyCompact(token string, key crypto.PublicKey) ([]byte, map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("compact JWS must have three parts")
	}
	h, alg, err := decodeHeader(parts[0])
	if err != nil {
		return nil, nil, err
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, nil, fmt.Errorf("signature: %v", err)
	}
	if err := verify(alg, key, []byte(parts[0]+"."+parts[1]), sig); err != nil {
		return nil, nil, err
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, nil, fmt.Errorf("payload: %v", err)
	}
	return payload, h, nil
}

// Signature is one verified signature of a JSON serialization.
type Signature struct {
	Protected   map[string]any
	Unprotected map[string]any
}

type jsonSig struct {
	Protected string         `json:"protected"`
	Header    map[string]any `json:"header"`
	Signature string         `json:"signature"`
}

// VerifyJSON verifies every signature of a JWS in general or flattened
// JSON serialization (RFC 7515 §7.2). keyFor picks the key for a
// signature from its headers. When a signature carries x5c and x5t#S256,
// the thumbprint must be that of the first certificate (RFC 7515 §4.1.8).
func VerifyJSON(data []byte, keyFor func(protected, unprotected map[string]any) (crypto.PublicKey, error)) ([]byte, []Signature, error) {
	var j struct {
		Payload    *string   `json:"payload"`
		Signatures []jsonSig `json:"signatures"`
		jsonSig
	}
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, nil, err
	}
	if j.Payload == nil {
		return nil, nil, errors.New("no payload")
	}
	sigs := j.Signatures
	if sigs == nil {
		sigs = []jsonSig{j.jsonSig}
	}
	if len(sigs) == 0 {
		return nil, nil, errors.New("no signatures")
	}
	var out []Signature
	for i, s := range sigs {
		h, alg, err := decodeHeader(s.Protected)
		if err != nil {
			return nil, nil, fmt.Errorf("signature %d: %v", i, err)
		}
		for name := range s.Header {
			if _, dup := h[name]; dup {
				return nil, nil, fmt.Errorf("signature %d: header %q is both protected and unprotected", i, name)
			}
		}
		if err := checkX5T(h, s.Header); err != nil {
			return nil, nil, fmt.Errorf("signature %d: %v", i, err)
		}
		key, err := keyFor(h, s.Header)
		if err != nil {
			return nil, nil, fmt.Errorf("signature %d: %v", i, err)
		}
		sig, err := b64.DecodeString(s.Signature)
		if err != nil {
			return nil, nil, fmt.Errorf("signature %d: %v", i, err)
		}
		if err := verify(alg, key, []byte(s.Protected+"."+*j.Payload), sig); err != nil {
			return nil, nil, fmt.Errorf("signature %d: %v", i, err)
		}
		out = append(out, Signature{Protected: h, Unprotected: s.Header})
	}
	payload, err := b64.DecodeString(*j.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("payload: %v", err)
	}
	return payload, out, nil
}

func checkX5T(protected, unprotected map[string]any) error {
	x5t, _ := protected["x5t#S256"].(string)
	x5c, ok := protected["x5c"].([]any)
	if !ok {
		x5c, _ = unprotected["x5c"].([]any)
	}
	if x5t == "" || len(x5c) == 0 {
		return nil
	}
	first, _ := x5c[0].(string)
	der, err := base64.StdEncoding.DecodeString(first) // x5c is standard base64 (RFC 7515 §4.1.6)
	if err != nil {
		return fmt.Errorf("x5c[0]: %v", err)
	}
	sum := sha256.Sum256(der)
	if base64.RawURLEncoding.EncodeToString(sum[:]) != x5t {
		return errors.New("x5t#S256 is not the thumbprint of x5c[0]")
	}
	return nil
}
