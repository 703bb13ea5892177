package seal

import (
	"context"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// A seal is on a document once: a copied signature entry is not a second
// seal, online, offline or when another seal is added.
func TestSealDuplicateSeal(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		a := h.org(t, "襄阳市住房和城乡建设局")
		b := h.org(t, "襄阳市城市建设投资集团有限公司")
		sa := h.seal(t, a, KindContract, AlgEd25519)
		sb := h.seal(t, b, KindContract, AlgES256)
		content := "保障性住房建设合同"
		once := mustSign(t, h, keeper(a), sa.ID, SignRequest{Document: testDoc(content), Purpose: "甲方签章"})

		j := splitJWS(t, once)
		j.Signatures = append(j.Signatures, j.Signatures[0])
		twice := j.bytes(t)

		check := func(name string, res Result) {
			t.Helper()
			if res.Valid || len(res.Signatures) != 2 || !res.Signatures[0].Valid ||
				res.Signatures[1].Valid || res.Signatures[1].Reason != ReasonDuplicateSeal {
				t.Errorf("%s: the same seal twice: %+v", name, res)
			}
		}
		res, err := h.svc.Verify(ctx, twice, strings.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		check("online", res)

		caPEM, err := h.svc.CACertificatesPEM(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cas, err := ParseCertificates(caPEM)
		if err != nil {
			t.Fatal(err)
		}
		v, err := NewVerifier(cas, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res, err = v.Verify(twice, nil); err != nil {
			t.Fatal(err)
		}
		check("offline with the CA", res)

		_, err = h.svc.Sign(ctx, keeper(b), sb.ID, SignRequest{Existing: twice, Purpose: "乙方签章"})
		wantKind(t, err, errs.KindInvalid)

		// Two different seals stay valid.
		both := mustSign(t, h, keeper(b), sb.ID, SignRequest{Existing: once, Purpose: "乙方签章"})
		if res := mustVerify(t, h, both); !res.Valid || len(res.Signatures) != 2 {
			t.Fatalf("two seals: %+v", res)
		}
	})
}

// Adding a seal never yields a sealed document over MaxJWSSize, which
// Verify would refuse.
func TestSealAddSignatureOverLimit(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		a := h.org(t, "襄阳市水利和湖泊局")
		b := h.org(t, "襄阳市汉江水务有限公司")
		sa := h.seal(t, a, KindContract, AlgEd25519)
		sb := h.seal(t, b, KindContract, AlgEd25519)
		first := mustSign(t, h, keeper(a), sa.ID, SignRequest{Document: testDoc("供水协议"), Purpose: "甲方签章"})

		// An unprotected header member that no signature covers pads the
		// document to just under the limit; it still verifies.
		j := splitJWS(t, first)
		j.Signatures[0].Header["note"] = ""
		n := len(j.bytes(t))
		j.Signatures[0].Header["note"] = strings.Repeat("a", MaxJWSSize-n-100)
		padded := j.bytes(t)
		if res := mustVerify(t, h, padded); !res.Valid {
			t.Fatalf("padded document: %+v", res)
		}

		out, err := h.svc.Sign(ctx, keeper(b), sb.ID, SignRequest{Existing: padded, Purpose: "乙方签章"})
		if err == nil {
			_, verr := h.svc.Verify(ctx, out, nil)
			t.Fatalf("Sign made a %d-byte sealed document; Verify says %v", len(out), verr)
		}
		wantKind(t, err, errs.KindTooLarge)
	})
}

// Bidirectional formatting characters reorder how a name is shown (a
// document "合同\u202Efdp.exe" reads as "合同exe.pdf"): they are refused in
// what is sealed, while a statement signed earlier with one still parses.
func TestSealRefusesBidiControls(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		a := h.org(t, "襄阳市司法局")
		sa := h.seal(t, a, KindContract, AlgEd25519)
		for _, bad := range []string{"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"} {
			doc := testDoc("委托书")
			doc.Name = "委托书" + bad + "fdp.exe"
			_, err := h.svc.Sign(ctx, keeper(a), sa.ID, SignRequest{Document: doc, Purpose: "签章"})
			wantKind(t, err, errs.KindInvalid)
			if !strings.Contains(err.Error(), "bidirectional") {
				t.Errorf("name with %U: %v", []rune(bad)[0], err)
			}
			_, err = h.svc.Sign(ctx, keeper(a), sa.ID, SignRequest{Document: testDoc("委托书"), Purpose: "签章" + bad})
			wantKind(t, err, errs.KindInvalid)
		}
		// Right-to-left text itself (not a formatting character) is fine.
		doc := testDoc("委托书")
		doc.Name = "وكالة.pdf"
		mustSign(t, h, keeper(a), sa.ID, SignRequest{Document: doc, Purpose: "签章"})
	})
	stmt := []byte(`{"sha256":"` + strings.Repeat("ab", 32) + `","size":1,"media_type":"application/pdf","name":"合同\u202efdp.exe"}`)
	if d, err := parseStatement(stmt); err != nil || !strings.Contains(d.Name, "\u202e") {
		t.Fatalf("a statement signed before the check: %+v, %v", d, err)
	}
}
