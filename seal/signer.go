package seal

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"sync"
	"time"
)

// signer applies one seal key. Everything about the key that does not
// change between signatures (the protected header up to sigT, the x5c
// header) is prepared once, so a signature costs building two short JSON
// texts, base64 and the signature algorithm itself.
type signer struct {
	kid string
	alg Alg
	ed  ed25519.PrivateKey
	ec  *ecdsa.PrivateKey
	// hdrPrefix is the protected header JSON up to the sigT value.
	hdrPrefix []byte
	// unprotected is the unprotected header: {"x5c":[seal cert, CA cert]}.
	unprotected []byte
}

func newSigner(priv crypto.Signer, sealID, creditCode string, certDER, caDER []byte) (*signer, error) {
	alg, ok := algOf(priv.Public())
	if !ok {
		return nil, errors.New("unsupported private key")
	}
	kid, err := keyID(priv.Public())
	if err != nil {
		return nil, err
	}
	k := &signer{kid: kid, alg: alg}
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		k.ed = p
	case *ecdsa.PrivateKey:
		k.ec = p
	}
	h := []byte(`{"alg":"`)
	h = append(h, alg.jwsAlg()...)
	h = append(h, `","typ":"`+Typ+`","kid":`...)
	h = appendJSONString(h, kid)
	h = append(h, `,"x5t#S256":"`...)
	h = append(h, certThumbprint(certDER)...)
	h = append(h, `","seal":`...)
	h = appendJSONString(h, sealID)
	h = append(h, `,"org":`...)
	h = appendJSONString(h, creditCode)
	h = append(h, `,"sigT":"`...)
	k.hdrPrefix = h

	u := []byte(`{"x5c":["`)
	u = base64.StdEncoding.AppendEncode(u, certDER)
	if caDER != nil {
		u = append(u, `","`...)
		u = base64.StdEncoding.AppendEncode(u, caDER)
	}
	k.unprotected = append(u, `"]}`...)
	return k, nil
}

var signBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendEntry signs payloadB64 at time at for purpose and appends the
// signature's entry of the signatures array to dst.
func (k *signer) appendEntry(dst, payloadB64 []byte, at time.Time, purpose string) ([]byte, error) {
	bp := signBufs.Get().(*[]byte)
	defer signBufs.Put(bp)
	hdr := append((*bp)[:0], k.hdrPrefix...)
	hdr = at.UTC().AppendFormat(hdr, sigTLayout)
	hdr = append(hdr, `","purpose":`...)
	hdr = appendJSONString(hdr, purpose)
	hdr = append(hdr, '}')
	// The signing input goes right after the header in the same buffer.
	n := len(hdr)
	in := b64url.AppendEncode(hdr, hdr)
	in = append(in, '.')
	in = append(in, payloadB64...)
	*bp = in
	input := in[n:]
	protLen := b64url.EncodedLen(n)

	var sig []byte
	switch {
	case k.ed != nil:
		sig = ed25519.Sign(k.ed, input)
	case k.ec != nil:
		var err error
		if sig, err = signES256(k.ec, input); err != nil {
			return dst, err
		}
	default:
		return dst, errors.New("seal key not loaded")
	}
	dst = append(dst, `{"protected":"`...)
	dst = append(dst, input[:protLen]...)
	dst = append(dst, `","header":`...)
	dst = append(dst, k.unprotected...)
	dst = append(dst, `,"signature":"`...)
	dst = b64url.AppendEncode(dst, sig)
	return append(dst, `"}`...), nil
}

// signES256 returns the JWS form of an ECDSA P-256 signature: R || S, each
// 32 bytes big-endian (RFC 7518 §3.4).
func signES256(k *ecdsa.PrivateKey, input []byte) ([]byte, error) {
	h := sha256.Sum256(input)
	der, err := ecdsa.SignASN1(rand.Reader, k, h[:])
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}

// verifySignature checks a JWS signature of alg over input with pub.
func verifySignature(alg Alg, pub crypto.PublicKey, input, sig []byte) bool {
	switch alg {
	case AlgEd25519:
		k, ok := pub.(ed25519.PublicKey)
		return ok && len(sig) == ed25519.SignatureSize && ed25519.Verify(k, input, sig)
	case AlgES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(input)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k, h[:], r, s)
	}
	return false
}
