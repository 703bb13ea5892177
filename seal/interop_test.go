package seal

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/seal/internal/jwsref"
)

// The hub's sealed documents verify with two implementations that share
// no code with it: jwsref (RFC 7515/8037 on the standard library alone,
// keys from the published JWKS) and go-jose (keys from the x5c
// certificates), both with an explicit EdDSA/ES256 allow list.
func TestInteroperability(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		a := h.org(t, "襄阳市商务局")
		b := h.org(t, "襄阳市文化和旅游局")
		sa := h.seal(t, a, KindContract, AlgEd25519)
		sb := h.seal(t, b, KindContract, AlgES256)
		doc := testDoc("招商引资合作协议")
		jws := mustSign(t, h, keeper(a), sa.ID, SignRequest{Document: doc, Purpose: "甲方"})
		jws = mustSign(t, h, keeper(b), sb.ID, SignRequest{Existing: jws, Purpose: "乙方 <&>\"\\ 签章"})
		jwks, err := h.svc.JWKS(ctx)
		if err != nil {
			t.Fatal(err)
		}

		keys, err := jwsref.KeySet(jwks)
		if err != nil {
			t.Fatal(err)
		}
		payload, sigs, err := jwsref.VerifyJSON(jws, func(p, _ map[string]any) (crypto.PublicKey, error) {
			kid, _ := p["kid"].(string)
			k, ok := keys[kid]
			if !ok {
				return nil, fmt.Errorf("unknown kid %q", kid)
			}
			if k.Thumbprint != p["x5t#S256"] {
				return nil, fmt.Errorf("kid %s: x5t#S256 differs from the JWKS", kid)
			}
			return k.Public, nil
		})
		if err != nil {
			t.Fatalf("jwsref: %v", err)
		}
		var stmt Document
		if err := json.Unmarshal(payload, &stmt); err != nil || stmt != doc {
			t.Fatalf("jwsref payload %s (%v), want %+v", payload, err, doc)
		}
		if len(sigs) != 2 || sigs[0].Protected["seal"] != sa.ID || sigs[1].Protected["seal"] != sb.ID ||
			sigs[0].Protected["alg"] != "EdDSA" || sigs[1].Protected["alg"] != "ES256" {
			t.Fatalf("jwsref signatures %+v", sigs)
		}

		obj, err := jose.ParseSignedJSON(string(jws), []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
		if err != nil {
			t.Fatalf("go-jose: %v", err)
		}
		if len(obj.Signatures) != 2 {
			t.Fatalf("go-jose sees %d signatures", len(obj.Signatures))
		}
		caDER, err := h.svc.CACertificate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		for i, s := range []Seal{sa, sb} {
			cert, err := x509.ParseCertificate(s.Keys[0].Certificate)
			if err != nil {
				t.Fatal(err)
			}
			idx, sig, p, err := obj.VerifyMulti(cert.PublicKey)
			if err != nil || idx != i || string(p) != string(payload) {
				t.Fatalf("go-jose, seal %d: idx %d %v", i, idx, err)
			}
			if sig.Protected.KeyID != s.Keys[0].Kid {
				t.Fatalf("go-jose header %+v", sig.Protected)
			}
			// go-jose checks the x5c chain up to the hub's CA.
			chains, err := sig.Header.Certificates(x509.VerifyOptions{Roots: roots,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: s.ValidFrom.Add(time.Minute)})
			if err != nil || len(chains) != 1 || !chains[0][0].Equal(cert) {
				t.Fatalf("go-jose x5c chain: %v", err)
			}
		}
		// go-jose, too, refuses what is not on its allow list.
		if _, err := jose.ParseSignedJSON(string(jws), []jose.SignatureAlgorithm{jose.RS256}); err == nil {
			t.Fatal("go-jose accepted algorithms outside its allow list")
		}
	})
}

// The hub's own signature primitives agree with the RFCs' examples.
func TestRFCExamplesWithHubPrimitives(t *testing.T) {
	for name, alg := range map[string]Alg{"rfc8037-a4-ed25519.json": AlgEd25519, "rfc7515-a3-es256.json": AlgES256} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			JWK map[string]any `json:"jwk"`
			JWS string         `json:"jws"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		pub, err := jwsref.PublicKey(v.JWK)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.LastIndexByte(v.JWS, '.')
		sig, err := b64url.DecodeString(v.JWS[i+1:])
		if err != nil {
			t.Fatal(err)
		}
		if !verifySignature(alg, pub, []byte(v.JWS[:i]), sig) {
			t.Errorf("%s: the hub's verifier rejects the published example", name)
		}
		sig[0] ^= 1
		if verifySignature(alg, pub, []byte(v.JWS[:i]), sig) {
			t.Errorf("%s: a changed signature verifies", name)
		}
	}
}
