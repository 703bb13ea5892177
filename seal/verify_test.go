package seal

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Each way of tampering with a sealed document is rejected with its own reason.
func TestVerifyRejects(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市自然资源和规划局")
		s := h.seal(t, org, KindOfficial, AlgEd25519)
		s2 := h.seal(t, org, KindBusiness, AlgEd25519)
		doc := testDoc("不动产权证书")
		good := mustSign(t, h, keeper(org), s.ID, SignRequest{Document: doc, Purpose: "登记"})
		other := mustSign(t, h, keeper(org), s2.ID, SignRequest{Document: doc, Purpose: "登记"})

		// A second hub, with its own CA, seals the same document.
		h2 := newTestHub(t, dbtest.Open(t, d.Dialect))
		org2 := h2.org(t, "襄阳市自然资源和规划局")
		foreign := mustSign(t, h2, keeper(org2), h2.seal(t, org2, KindOfficial, AlgEd25519).ID, SignRequest{Document: doc, Purpose: "登记"})

		pub := s.Keys[0].Certificate
		cert, err := x509.ParseCertificate(pub)
		if err != nil {
			t.Fatal(err)
		}
		edPub := cert.PublicKey.(ed25519.PublicKey)

		tamper := func(fn func(j *tJWS)) []byte {
			j := splitJWS(t, good)
			fn(&j)
			return j.bytes(t)
		}
		withHeader := func(fn func(hdr map[string]any)) func(j *tJWS) {
			return func(j *tJWS) {
				hdr := j.Signatures[0].header(t)
				fn(hdr)
				j.Signatures[0].Protected = encodeHeader(t, hdr)
			}
		}
		cases := []struct {
			name string
			jws  []byte
			want Reason
		}{
			{"changed payload", tamper(func(j *tJWS) {
				d2 := testDoc("另一份文件")
				j.Payload = base64.RawURLEncoding.EncodeToString(appendStatement(nil, &d2))
			}), ReasonBadSignature},
			{"changed header", tamper(withHeader(func(hdr map[string]any) { hdr["purpose"] = "别的用途" })), ReasonBadSignature},
			{"changed sigT", tamper(withHeader(func(hdr map[string]any) { hdr["sigT"] = "2026-01-01T00:00:00Z" })), ReasonBadSignature},
			{"changed signature", tamper(func(j *tJWS) {
				sig, _ := base64.RawURLEncoding.DecodeString(j.Signatures[0].Signature)
				sig[5] ^= 1
				j.Signatures[0].Signature = base64.RawURLEncoding.EncodeToString(sig)
			}), ReasonBadSignature},
			{"signature with non-canonical base64", tamper(func(j *tJWS) {
				// 64 bytes end in 2 spare bits; setting them must not pass.
				sig := j.Signatures[0].Signature
				last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", sig[len(sig)-1])
				j.Signatures[0].Signature = sig[:len(sig)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1])
			}), ReasonMalformed},
			{"swapped x5c", tamper(func(j *tJWS) {
				j.Signatures[0].Header = splitJWS(t, other).Signatures[0].Header
			}), ReasonCertMismatch},
			{"x5c from another hub", tamper(func(j *tJWS) {
				j.Signatures[0].Header = splitJWS(t, foreign).Signatures[0].Header
			}), ReasonForeignCA},
			{"x5c and x5t#S256 of another seal", tamper(func(j *tJWS) {
				o := splitJWS(t, other).Signatures[0]
				j.Signatures[0].Header = o.Header
				withHeader(func(hdr map[string]any) { hdr["x5t#S256"] = o.header(t)["x5t#S256"] })(j)
			}), ReasonBadSignature},
			{"signature from another CA", foreign, ReasonForeignCA},
			{"alg none", tamper(func(j *tJWS) {
				withHeader(func(hdr map[string]any) { hdr["alg"] = "none" })(j)
				j.Signatures[0].Signature = ""
			}), ReasonAlgorithm},
			{"HS256 keyed with the public key", tamper(func(j *tJWS) {
				withHeader(func(hdr map[string]any) { hdr["alg"] = "HS256" })(j)
				mac := hmac.New(sha256.New, edPub)
				mac.Write([]byte(j.Signatures[0].Protected + "." + j.Payload))
				j.Signatures[0].Signature = base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
			}), ReasonAlgorithm},
			{"ES256 claimed for an Ed25519 key", tamper(withHeader(func(hdr map[string]any) { hdr["alg"] = "ES256" })), ReasonAlgorithm},
			{"crit header", tamper(withHeader(func(hdr map[string]any) { hdr["crit"] = []string{"sigT"} })), ReasonMalformed},
			{"embedded jwk", tamper(withHeader(func(hdr map[string]any) { hdr["jwk"] = map[string]any{"kty": "OKP"} })), ReasonMalformed},
			{"wrong typ", tamper(withHeader(func(hdr map[string]any) { hdr["typ"] = "JWT" })), ReasonMalformed},
			{"no sigT", tamper(withHeader(func(hdr map[string]any) { delete(hdr, "sigT") })), ReasonMalformed},
			{"kid in the unprotected header", tamper(func(j *tJWS) { j.Signatures[0].Header["kid"] = s.Keys[0].Kid }), ReasonMalformed},
			{"x5c in both headers", tamper(withHeader(func(hdr map[string]any) { hdr["x5c"] = []string{"AA=="} })), ReasonMalformed},
			{"unknown kid", tamper(withHeader(func(hdr map[string]any) { hdr["kid"] = "nope" })), ReasonBadSignature},
			{"protected header not base64url", tamper(func(j *tJWS) { j.Signatures[0].Protected = "e30=" }), ReasonMalformed},
		}
		for _, c := range cases {
			res, err := h.svc.Verify(ctx, c.jws, nil)
			if err != nil {
				t.Errorf("%s: error %v", c.name, err)
				continue
			}
			if res.Valid || res.Signatures[0].Valid || res.Signatures[0].Reason != c.want {
				t.Errorf("%s: got valid=%v reason %q (%s), want %q", c.name, res.Signatures[0].Valid, res.Signatures[0].Reason, res.Signatures[0].Detail, c.want)
			}
		}

		// A kid of this hub that is not the certificate's, correctly signed:
		// only someone with the key could do it, but the verifier still says so.
		st, _ := h.svc.state(ctx, s.ID)
		k, _ := h.svc.signerOf(ctx, st)
		mixed := *k
		mixed.hdrPrefix = bytes.Replace(k.hdrPrefix, []byte(s.Keys[0].Kid), []byte(s2.Keys[0].Kid), 1)
		jws, err := signNew(&mixed, &doc, h.svc.now(), "mixed")
		if err != nil {
			t.Fatal(err)
		}
		if res := mustVerify(t, h, jws); res.Valid || res.Signatures[0].Reason != ReasonUnknownKey {
			t.Errorf("kid of another key: %+v", res.Signatures[0])
		}

		if res := mustVerify(t, h, good); !res.Valid {
			t.Fatalf("untouched: %+v", res.Signatures[0])
		}
		for name, in := range map[string][]byte{
			"empty":          nil,
			"garbage":        []byte("\x00\x01garbage"),
			"JSON array":     []byte(`[1,2,3]`),
			"compact JWS":    []byte("eyJhbGciOiJFZERTQSJ9.eyJ9.c2ln"),
			"no signatures":  []byte(`{"payload":"e30","signatures":[]}`),
			"no payload":     []byte(`{"signatures":[{"protected":"e30","signature":""}]}`),
			"bad payload":    []byte(`{"payload":"!!","signatures":[{"protected":"e30","signature":""}]}`),
			"not statement":  []byte(`{"payload":"e30","signatures":[{"protected":"e30","signature":""}]}`),
			"trailing bytes": append(append([]byte{}, good...), "x"...),
			"duplicate key":  []byte(`{"payload":"e30","payload":"e30","signatures":[]}`),
		} {
			if _, err := h.svc.Verify(ctx, in, nil); !errs.Is(err, errs.KindInvalid) {
				t.Errorf("%s: got %v, want invalid", name, err)
			}
		}
		huge := append([]byte(`{"payload":"`), bytes.Repeat([]byte("A"), 10<<20)...)
		huge = append(huge, `","signatures":[]}`...)
		if _, err := h.svc.Verify(ctx, huge, nil); !errs.Is(err, errs.KindTooLarge) {
			t.Errorf("10 MB: got %v, want too large", err)
		}
	})
}

// Anyone can verify offline with the published key set or the CA alone.
func TestVerifyOffline(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市财政局")
		s := h.seal(t, org, KindFinance, AlgES256)
		content := "财政拨款通知"
		jws := mustSign(t, h, keeper(org), s.ID, SignRequest{Document: testDoc(content), Purpose: "拨款"})
		rev, err := h.svc.Revoke(ctx, h.admin, s.ID, "机构改革")
		if err != nil {
			t.Fatal(err)
		}
		late := h.forge(t, s.ID, testDoc(content), rev.StatusHistory[1].At.Add(1))

		jwks, err := h.svc.JWKS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		caPEM, err := h.svc.CACertificatesPEM(ctx)
		if err != nil {
			t.Fatal(err)
		}
		caDER, err := h.svc.CACertificate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cas, err := ParseCertificates(caPEM)
		if err != nil || len(cas) != 1 || !bytes.Equal(cas[0].Raw, caDER) {
			t.Fatalf("CA PEM: %v %v", cas, err)
		}

		res, err := VerifyOffline(jws, strings.NewReader(content), jwks)
		if err != nil {
			t.Fatal(err)
		}
		sr := res.Signatures[0]
		if !res.Valid || !sr.KeyChecked || sr.StatusNow != StatusRevoked || sr.StatusAtSigning != StatusActive || sr.Organisation.ID != org.ID {
			t.Fatalf("offline with JWKS: %+v", res)
		}
		res, err = VerifyOffline(late, nil, jwks)
		if err != nil {
			t.Fatal(err)
		}
		if res.Valid || res.Signatures[0].Reason != ReasonSealRevoked {
			t.Fatalf("offline, after revocation: %+v", res.Signatures[0])
		}

		// With the CA certificate alone: chain, signature and digest only.
		v, err := NewVerifier(cas, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err = v.Verify(jws, strings.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Valid || res.Signatures[0].KeyChecked || res.Signatures[0].Organisation.CreditCode != org.Code {
			t.Fatalf("offline with the CA alone: %+v", res)
		}
		res, err = v.Verify(jws, strings.NewReader("other"))
		if err != nil || res.Valid || res.Signatures[0].Reason != ReasonDigestMismatch {
			t.Fatalf("offline, other document: %+v %v", res, err)
		}

		// Pinning another hub's CA rejects this hub's seals.
		h2 := newTestHub(t, dbtest.Open(t, d.Dialect))
		other, err := h2.svc.CACertificatesPEM(ctx)
		if err != nil {
			t.Fatal(err)
		}
		otherCAs, _ := ParseCertificates(other)
		ks, err := ParseJWKS(jwks)
		if err != nil {
			t.Fatal(err)
		}
		v, err = NewVerifier(otherCAs, ks)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := v.Verify(jws, nil); err != nil || res.Valid || res.Signatures[0].Reason != ReasonForeignCA {
			t.Fatalf("pinned other CA: %+v %v", res, err)
		}

		for name, bad := range map[string][]byte{"garbage": []byte("nope"), "no CA": []byte(`{"keys":[]}`)} {
			if _, err := VerifyOffline(jws, nil, bad); !errs.Is(err, errs.KindInvalid) {
				t.Errorf("JWKS %s: got %v, want invalid", name, err)
			}
		}
	})
}
