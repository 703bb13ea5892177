package seal

import (
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// memHub is a CA and seal keys in memory, for the fuzz test and the raw
// benchmarks: no database, the same signing and verification code.
type memHub struct {
	ca      *authority
	seals   []Seal
	signers []*signer
	keys    *KeySet
}

func newMemHub(tb testing.TB, algs ...Alg) *memHub {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	ca, err := createAuthority("memory CA", now)
	if err != nil {
		tb.Fatal(err)
	}
	m := &memHub{ca: ca, keys: &KeySet{keys: map[string]*keyInfo{}}}
	for i, alg := range algs {
		s := Seal{
			ID:           fmt.Sprintf("seal_mem%02d", i),
			Organisation: Organisation{ID: fmt.Sprintf("org-%d", i), Name: fmt.Sprintf("测试单位%d", i), CreditCode: ident.NewCreditCode('1', '1', "420600", uint64(i+1))},
			Name:         "测试章", Kind: KindOfficial, Alg: alg,
			ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(24 * time.Hour),
			Status:        StatusActive,
			StatusHistory: []StatusChange{{Status: StatusActive, At: now.Add(-time.Hour)}},
		}
		priv, err := generateKey(alg)
		if err != nil {
			tb.Fatal(err)
		}
		cert, err := ca.issue(&s, priv.Public())
		if err != nil {
			tb.Fatal(err)
		}
		k, err := newSigner(priv, s.ID, s.Organisation.CreditCode, cert, ca.der)
		if err != nil {
			tb.Fatal(err)
		}
		s.Keys = []Key{{Kid: k.kid, Alg: alg, Thumbprint: certThumbprint(cert), CreatedAt: now.Add(-time.Hour), Certificate: cert}}
		m.keys.keys[k.kid] = &keyInfo{kid: k.kid, thumbprint: certThumbprint(cert), org: s.Organisation,
			createdAt: s.Keys[0].CreatedAt, history: s.StatusHistory, statusNow: StatusActive}
		m.seals = append(m.seals, s)
		m.signers = append(m.signers, k)
	}
	return m
}

// verifier returns an offline verifier trusting the CA, knowing the keys
// when withKeys.
func (m *memHub) verifier(tb testing.TB, withKeys bool) *Verifier {
	tb.Helper()
	var ks *KeySet
	if withKeys {
		ks = m.keys
	}
	v, err := NewVerifier([]*x509.Certificate{m.ca.cert}, ks)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// sign seals doc with seal i, and adds it to existing when not nil.
func (m *memHub) sign(tb testing.TB, i int, doc Document, existing []byte) []byte {
	tb.Helper()
	if existing == nil {
		out, err := signNew(m.signers[i], &doc, time.Now(), "测试")
		if err != nil {
			tb.Fatal(err)
		}
		return out
	}
	j, err := parseJWS(existing)
	if err != nil {
		tb.Fatal(err)
	}
	var entries [][]byte
	for k := range j.sigs {
		entries = append(entries, appendSigEntry(nil, &j.sigs[k]))
	}
	e, err := m.signers[i].appendEntry(nil, j.payloadB64, time.Now(), "测试")
	if err != nil {
		tb.Fatal(err)
	}
	return appendJWS(nil, j.payloadB64, append(entries, e)...)
}

func mustCert(tb testing.TB, der []byte) *x509.Certificate {
	tb.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
