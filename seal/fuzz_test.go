package seal

import (
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/seal/internal/jwsref"
)

// FuzzVerify feeds the verifier mutations of real sealed documents (one
// Ed25519 seal, one ES256 seal, both, the flattened form). It must never
// panic; it must answer with a Result or an Invalid / TooLarge error; and
// whatever it calls valid, the independent jwsref verifier must verify
// too. `go test -fuzz FuzzVerify ./seal` runs it; plain `go test` runs
// the seeds.
func FuzzVerify(f *testing.F) {
	m := newMemHub(f, AlgEd25519, AlgES256)
	doc := testDoc("模糊测试")
	one := m.sign(f, 0, doc, nil)
	es := m.sign(f, 1, doc, nil)
	two := m.sign(f, 1, doc, one)
	j := splitJWS(f, one)
	flat := []byte(`{"payload":"` + j.Payload + `","protected":"` + j.Signatures[0].Protected +
		`","header":{"x5c":["` + j.Signatures[0].Header["x5c"].([]any)[0].(string) + `"]},"signature":"` + j.Signatures[0].Signature + `"}`)
	for _, seed := range [][]byte{one, es, two, flat, []byte(`{"payload":"","signatures":[{"protected":"","signature":""}]}`),
		[]byte(`{"payload":"e30","signatures":[{"protected":"eyJhbGciOiJub25lIn0","header":{"x5c":[]},"signature":""}]}`),
		[]byte(strings.Replace(string(one), `"x5c":["`, `"x5c":["\u0041`, 1))} {
		f.Add(seed)
	}
	keyed, bare := m.verifier(f, true), m.verifier(f, false)
	for i, seed := range [][]byte{one, es, two, flat} {
		if res, err := keyed.Verify(seed, nil); err != nil || !res.Valid {
			f.Fatalf("seed %d does not verify: %+v %v", i, res, err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []*Verifier{keyed, bare} {
			res, err := v.Verify(data, nil)
			if err != nil {
				if k := errs.KindOf(err); k != errs.KindInvalid && k != errs.KindTooLarge {
					t.Fatalf("error of kind %s: %v", k, err)
				}
				continue
			}
			if len(res.Signatures) == 0 {
				t.Fatal("a result without signatures")
			}
			for _, s := range res.Signatures {
				if s.Valid != (s.Reason == "") {
					t.Fatalf("valid=%v with reason %q", s.Valid, s.Reason)
				}
				if s.Valid {
					crossCheck(t, m, data, s.Index)
				}
			}
		}
	})
}

// crossCheck verifies signature i of data with jwsref, in compact form.
func crossCheck(t *testing.T, m *memHub, data []byte, i int) {
	t.Helper()
	j, err := parseJWS(data)
	if err != nil {
		t.Fatalf("verified, but does not parse again: %v", err)
	}
	s := j.sigs[i]
	compact := string(s.protectedB64) + "." + string(j.payloadB64) + "." + string(s.signatureB64)
	var errs []string
	for _, sl := range m.seals {
		_, _, err := jwsref.VerifyCompact(compact, mustCert(t, sl.Keys[0].Certificate).PublicKey)
		if err == nil {
			return
		}
		errs = append(errs, err.Error())
	}
	t.Fatalf("signature %d valid here, but jwsref says: %v", i, errs)
}
