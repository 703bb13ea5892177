package seal

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

func TestCreateSeal(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市住房和城市更新局")
		n := NewSeal{OrganisationID: org.ID, Name: "襄阳市住房和城市更新局合同专用章", Kind: KindContract, Image: DemoImage(org.Name)}

		_, err := h.svc.CreateSeal(ctx, keeper(org), n)
		wantKind(t, err, errs.KindForbidden)
		_, err = h.svc.CreateSeal(ctx, nil, n)
		wantKind(t, err, errs.KindUnauthenticated)

		s, err := h.svc.CreateSeal(ctx, h.admin, n)
		if err != nil {
			t.Fatal(err)
		}
		if s.Organisation.CreditCode != org.Code || s.Organisation.Name != org.Name || s.Status != StatusActive ||
			s.Alg != AlgEd25519 || len(s.Keys) != 1 || s.ImageMediaType != MediaSVG {
			t.Fatalf("created %+v", s)
		}
		got, err := h.svc.Get(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != s.ID || len(got.Keys) != 1 || got.Keys[0].Kid != s.Keys[0].Kid || len(got.StatusHistory) != 1 ||
			!got.ValidUntil.Equal(s.ValidUntil) || got.Keys[0].Thumbprint != certThumbprint(got.Keys[0].Certificate) {
			t.Fatalf("Get = %+v\nwant %+v", got, s)
		}
		rc, mt, err := h.svc.Image(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		var img bytes.Buffer
		_, _ = img.ReadFrom(rc)
		rc.Close()
		if mt != MediaSVG || !bytes.Equal(img.Bytes(), n.Image) {
			t.Fatalf("image %s %d bytes", mt, img.Len())
		}

		// The certificate names the organisation, its credit code and the seal.
		e, reason, _ := parseSealCert(s.Keys[0].Certificate, h.svc.trust.authorities())
		if e == nil {
			t.Fatalf("certificate does not chain: %s", reason)
		}
		if e.sealID != s.ID || e.org.CreditCode != org.Code || e.org.Name != org.Name || e.kind != KindContract ||
			!e.cert.NotAfter.Equal(s.ValidUntil) || !e.cert.NotBefore.Equal(s.ValidFrom) {
			t.Fatalf("certificate subject %s, %+v", e.cert.Subject, e)
		}

		_, err = h.svc.CreateSeal(ctx, h.admin, n)
		wantKind(t, err, errs.KindConflict)

		for name, bad := range map[string]NewSeal{
			"unknown org":   {OrganisationID: "org-none", Name: "x", Kind: KindOfficial, Image: DemoImage("x")},
			"bad kind":      {OrganisationID: org.ID, Name: "x", Kind: "私章", Image: DemoImage("x")},
			"bad alg":       {OrganisationID: org.ID, Name: "x", Kind: KindOfficial, Alg: "RS256", Image: DemoImage("x")},
			"no image":      {OrganisationID: org.ID, Name: "x", Kind: KindOfficial},
			"gif image":     {OrganisationID: org.ID, Name: "x", Kind: KindOfficial, Image: []byte("GIF89a....")},
			"past validity": {OrganisationID: org.ID, Name: "x", Kind: KindOfficial, Image: DemoImage("x"), ValidUntil: time.Now().Add(-time.Hour)},
			"no name":       {OrganisationID: org.ID, Kind: KindOfficial, Image: DemoImage("x")},
		} {
			if _, err := h.svc.CreateSeal(ctx, h.admin, bad); !errs.Is(err, errs.KindInvalid) {
				t.Errorf("%s: got %v, want invalid", name, err)
			}
		}

		es := h.seal(t, org, KindFinance, AlgES256)
		list, next, err := h.svc.List(ctx, ListFilter{OrganisationID: org.ID, Limit: 1})
		if err != nil || len(list) != 1 || next == "" || list[0].ID != s.ID {
			t.Fatalf("List page 1 = %v %q %v", list, next, err)
		}
		list, next, err = h.svc.List(ctx, ListFilter{OrganisationID: org.ID, After: next, Limit: 1})
		if err != nil || len(list) != 1 || next != "" || list[0].ID != es.ID || len(list[0].Keys) != 1 {
			t.Fatalf("List page 2 = %v %q %v", list, next, err)
		}
		list, _, err = h.svc.List(ctx, ListFilter{Kind: KindFinance})
		if err != nil || len(list) != 1 || list[0].Alg != AlgES256 {
			t.Fatalf("List by kind = %v %v", list, err)
		}
	})
}

func TestSignAndVerify(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市民政局")
		for _, alg := range []Alg{AlgEd25519, AlgES256} {
			t.Run(string(alg), func(t *testing.T) {
				s := h.seal(t, org, KindOfficial, alg)
				content := "婚姻登记证明 " + string(alg)
				doc := testDoc(content)
				jws := mustSign(t, h, keeper(org), s.ID, SignRequest{Document: doc, Purpose: "出具婚姻登记证明"})

				j := splitJWS(t, jws)
				hdr := j.Signatures[0].header(t)
				wantAlg := map[Alg]string{AlgEd25519: "EdDSA", AlgES256: "ES256"}[alg]
				if hdr["alg"] != wantAlg || hdr["typ"] != Typ || hdr["kid"] != s.Keys[0].Kid || hdr["seal"] != s.ID ||
					hdr["x5t#S256"] != s.Keys[0].Thumbprint || hdr["org"] != org.Code || hdr["purpose"] != "出具婚姻登记证明" {
					t.Fatalf("protected header %v", hdr)
				}
				if _, ok := hdr["crit"]; ok {
					t.Fatal("crit header present")
				}
				if x5c, _ := j.Signatures[0].Header["x5c"].([]any); len(x5c) != 2 {
					t.Fatalf("x5c = %v", j.Signatures[0].Header["x5c"])
				}

				res, err := h.svc.Verify(ctx, jws, strings.NewReader(content))
				if err != nil {
					t.Fatal(err)
				}
				sr := res.Signatures[0]
				if !res.Valid || !res.DocumentChecked || !sr.Valid || sr.SealID != s.ID || sr.Kid != s.Keys[0].Kid ||
					sr.Organisation != s.Organisation || sr.StatusAtSigning != StatusActive || !sr.KeyChecked ||
					sr.Purpose != "出具婚姻登记证明" || res.Document != doc || time.Since(sr.SignedAt) > time.Minute {
					t.Fatalf("result %+v", res)
				}

				res, err = h.svc.Verify(ctx, jws, strings.NewReader(content+"!"))
				if err != nil {
					t.Fatal(err)
				}
				if res.Valid || res.Signatures[0].Reason != ReasonDigestMismatch {
					t.Fatalf("changed document: %+v", res.Signatures[0])
				}
			})
		}
	})
}

func TestSignRefusals(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		a := h.org(t, "襄阳市公安局")
		b := h.org(t, "襄阳市卫生健康委员会")
		s := h.seal(t, a, KindBusiness, AlgEd25519)
		req := SignRequest{Document: testDoc("x"), Purpose: "测试"}

		_, err := h.svc.Sign(ctx, keeper(b), s.ID, req)
		wantKind(t, err, errs.KindForbidden)
		app := &exchange.Principal{ID: "app", DepartmentID: a.ID, Roles: []exchange.Role{exchange.RoleApp}}
		_, err = h.svc.Sign(ctx, app, s.ID, req)
		wantKind(t, err, errs.KindForbidden)
		disabled := keeper(a)
		disabled.Disabled = true
		_, err = h.svc.Sign(ctx, disabled, s.ID, req)
		wantKind(t, err, errs.KindForbidden)
		// An administrator of another department is not the seal's keeper.
		_, err = h.svc.Sign(ctx, h.admin, s.ID, req)
		wantKind(t, err, errs.KindForbidden)
		// An administrator of the seal's own organisation may apply it.
		localAdmin := &exchange.Principal{ID: "adm-a", DepartmentID: a.ID, Roles: []exchange.Role{exchange.RoleAdmin}}
		if _, err := h.svc.Sign(ctx, localAdmin, s.ID, req); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Sign(ctx, nil, s.ID, req)
		wantKind(t, err, errs.KindUnauthenticated)
		_, err = h.svc.Sign(ctx, keeper(a), "seal_nope", req)
		wantKind(t, err, errs.KindNotFound)
		_, err = h.svc.Sign(ctx, keeper(a), s.ID, SignRequest{Document: testDoc("x")})
		wantKind(t, err, errs.KindInvalid)
		_, err = h.svc.Sign(ctx, keeper(a), s.ID, SignRequest{Document: Document{SHA256: "abc", Name: "x"}, Purpose: "p"})
		wantKind(t, err, errs.KindInvalid)
		_, err = h.svc.Sign(ctx, keeper(a), s.ID, SignRequest{Document: testDoc("x"), Purpose: strings.Repeat("长", MaxPurpose+1)})
		wantKind(t, err, errs.KindInvalid)

		_, err = h.svc.Suspend(ctx, keeper(a), s.ID, "遗失")
		wantKind(t, err, errs.KindForbidden)
		_, err = h.svc.Suspend(ctx, h.admin, s.ID, "")
		wantKind(t, err, errs.KindInvalid)
		if _, err := h.svc.Suspend(ctx, h.admin, s.ID, "印章遗失，挂失中"); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Sign(ctx, keeper(a), s.ID, req)
		wantKind(t, err, errs.KindConflict)
		_, err = h.svc.Suspend(ctx, h.admin, s.ID, "again")
		wantKind(t, err, errs.KindConflict)
		if _, err := h.svc.Reinstate(ctx, h.admin, s.ID, "找回"); err != nil {
			t.Fatal(err)
		}
		mustSign(t, h, keeper(a), s.ID, req)
		got, err := h.svc.Revoke(ctx, h.admin, s.ID, "机构撤销")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusRevoked || len(got.StatusHistory) != 4 || got.StatusHistory[3].Reason != "机构撤销" ||
			got.StatusHistory[3].By != h.admin.ID {
			t.Fatalf("history %+v", got.StatusHistory)
		}
		_, err = h.svc.Sign(ctx, keeper(a), s.ID, req)
		wantKind(t, err, errs.KindConflict)
		_, err = h.svc.Reinstate(ctx, h.admin, s.ID, "no")
		wantKind(t, err, errs.KindConflict)
		_, err = h.svc.RotateKey(ctx, h.admin, s.ID)
		wantKind(t, err, errs.KindConflict)
		_, err = h.svc.Revoke(ctx, h.admin, "seal_nope", "x")
		wantKind(t, err, errs.KindNotFound)
	})
}

// A signature made while the seal was active stays valid after the seal
// is suspended or revoked; one claiming a time after does not.
func TestStatusAtSigningTime(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市人力资源和社会保障局")
		s := h.seal(t, org, KindOfficial, AlgEd25519)
		doc := testDoc("社保缴费证明")
		before := mustSign(t, h, keeper(org), s.ID, SignRequest{Document: doc, Purpose: "证明"})

		sus, err := h.svc.Suspend(ctx, h.admin, s.ID, "核查")
		if err != nil {
			t.Fatal(err)
		}
		suspendedAt := sus.StatusHistory[1].At
		res := mustVerify(t, h, before)
		if !res.Valid || res.Signatures[0].StatusNow != StatusSuspended || res.Signatures[0].StatusAtSigning != StatusActive {
			t.Fatalf("before suspension: %+v", res.Signatures[0])
		}
		during := h.forge(t, s.ID, doc, suspendedAt.Add(time.Microsecond))
		if res := mustVerify(t, h, during); res.Valid || res.Signatures[0].Reason != ReasonSealSuspended {
			t.Fatalf("while suspended: %+v", res.Signatures[0])
		}
		time.Sleep(5 * time.Millisecond) // so the reinstatement is well after the forged time
		if _, err := h.svc.Reinstate(ctx, h.admin, s.ID, "核查无误"); err != nil {
			t.Fatal(err)
		}
		if res := mustVerify(t, h, during); res.Valid || res.Signatures[0].Reason != ReasonSealSuspended {
			t.Fatalf("while suspended, after reinstatement: %+v", res.Signatures[0])
		}
		afterReinstate := mustSign(t, h, keeper(org), s.ID, SignRequest{Document: doc, Purpose: "证明"})

		rev, err := h.svc.Revoke(ctx, h.admin, s.ID, "机构合并")
		if err != nil {
			t.Fatal(err)
		}
		revokedAt := rev.StatusHistory[len(rev.StatusHistory)-1].At
		for name, jws := range map[string][]byte{"before": before, "after reinstatement": afterReinstate} {
			res := mustVerify(t, h, jws)
			if !res.Valid || res.Signatures[0].StatusNow != StatusRevoked || res.Signatures[0].StatusAtSigning != StatusActive {
				t.Fatalf("%s: %+v", name, res.Signatures[0])
			}
		}
		forged := h.forge(t, s.ID, doc, revokedAt.Add(time.Second))
		if res := mustVerify(t, h, forged); res.Valid || res.Signatures[0].Reason != ReasonSealRevoked {
			t.Fatalf("after revocation: %+v", res.Signatures[0])
		}
		backdated := h.forge(t, s.ID, doc, s.CreatedAt.Add(-time.Hour))
		if res := mustVerify(t, h, backdated); res.Valid || res.Signatures[0].Reason != ReasonCertNotYetValid {
			t.Fatalf("backdated before the seal was valid: %+v", res.Signatures[0])
		}
		// A seal valid since last year (taken over from an older system)
		// cannot sign for times before its key was made.
		old, err := h.svc.CreateSeal(ctx, h.admin, NewSeal{OrganisationID: org.ID, Name: "旧章", Kind: KindBusiness,
			ValidFrom: time.Now().AddDate(-1, 0, 0), Image: DemoImage(org.Name)})
		if err != nil {
			t.Fatal(err)
		}
		backdated = h.forge(t, old.ID, doc, old.CreatedAt.Add(-10*time.Minute))
		if res := mustVerify(t, h, backdated); res.Valid || res.Signatures[0].Reason != ReasonSigningTime {
			t.Fatalf("backdated before the key existed: %+v", res.Signatures[0])
		}
		future := h.forge(t, s.ID, doc, time.Now().Add(time.Hour))
		if res := mustVerify(t, h, future); res.Valid || res.Signatures[0].Reason != ReasonSigningTime {
			t.Fatalf("in the future: %+v", res.Signatures[0])
		}
		expired := h.forge(t, s.ID, doc, s.ValidUntil.Add(time.Second))
		if res := mustVerify(t, h, expired); res.Valid || res.Signatures[0].Reason != ReasonCertExpired {
			t.Fatalf("after the certificate expired: %+v", res.Signatures[0])
		}
	})
}

func TestRotateKey(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市市场监督管理局")
		s := h.seal(t, org, KindOfficial, AlgEd25519)
		doc := testDoc("营业执照")
		old := mustSign(t, h, keeper(org), s.ID, SignRequest{Document: doc, Purpose: "核发"})
		st, _ := h.svc.state(ctx, s.ID)
		oldSigner, err := h.svc.signerOf(ctx, st)
		if err != nil {
			t.Fatal(err)
		}

		_, err = h.svc.RotateKey(ctx, keeper(org), s.ID)
		wantKind(t, err, errs.KindForbidden)
		rot, err := h.svc.RotateKey(ctx, h.admin, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(rot.Keys) != 2 || rot.Keys[0].RetiredAt.IsZero() || !rot.Keys[1].RetiredAt.IsZero() || rot.Keys[0].Kid == rot.Keys[1].Kid {
			t.Fatalf("keys after rotation %+v", rot.Keys)
		}
		fresh := mustSign(t, h, keeper(org), s.ID, SignRequest{Document: doc, Purpose: "换发"})
		if kid := splitJWS(t, fresh).Signatures[0].header(t)["kid"]; kid != rot.Keys[1].Kid {
			t.Fatalf("signed with %v, want the new key %s", kid, rot.Keys[1].Kid)
		}
		for name, jws := range map[string][]byte{"old key": old, "new key": fresh} {
			if res := mustVerify(t, h, jws); !res.Valid {
				t.Fatalf("%s: %+v", name, res.Signatures[0])
			}
		}
		// The old key, used by a replica that has not yet seen the
		// rotation (its cached state lives up to CacheTTL): still valid.
		stale, err := signNew(oldSigner, &doc, time.Now(), "stale")
		if err != nil {
			t.Fatal(err)
		}
		if res := mustVerify(t, h, stale); !res.Valid {
			t.Fatalf("old key just after the rotation: %+v", res.Signatures[0])
		}
		// The old key, used after it was retired and the grace is over.
		late, err := signNew(oldSigner, &doc, time.Now().Add(retiredKeyGrace+time.Second), "late")
		if err != nil {
			t.Fatal(err)
		}
		if res := mustVerify(t, h, late); res.Valid || res.Signatures[0].Reason != ReasonKeyRetired {
			t.Fatalf("retired key: %+v", res.Signatures[0])
		}

		// The JWKS keeps the retired key, and offline verification agrees.
		jwks, err := h.svc.JWKS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := ParseJWKS(jwks)
		if err != nil {
			t.Fatal(err)
		}
		if ks.keys[rot.Keys[0].Kid] == nil || ks.keys[rot.Keys[1].Kid] == nil {
			t.Fatalf("JWKS lacks a key: %s", jwks)
		}
		for name, c := range map[string]struct {
			jws    []byte
			reason Reason
		}{"old": {old, ""}, "new": {fresh, ""}, "stale": {stale, ""}, "late": {late, ReasonKeyRetired}} {
			res, err := VerifyOffline(c.jws, nil, jwks)
			if err != nil {
				t.Fatal(err)
			}
			if res.Signatures[0].Reason != c.reason || res.Valid != (c.reason == "") {
				t.Errorf("offline %s: %+v", name, res.Signatures[0])
			}
		}
	})
}

// A contract between two organisations carries both seals.
func TestMultiSeal(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		a := h.org(t, "襄阳市交通运输局")
		b := h.org(t, "襄阳市公共交通集团有限公司")
		sa := h.seal(t, a, KindContract, AlgEd25519)
		sb := h.seal(t, b, KindContract, AlgES256)
		content := "公交线路特许经营协议"
		doc := testDoc(content)
		first := mustSign(t, h, keeper(a), sa.ID, SignRequest{Document: doc, Purpose: "甲方签章"})
		both := mustSign(t, h, keeper(b), sb.ID, SignRequest{Existing: first, Purpose: "乙方签章"})

		res, err := h.svc.Verify(ctx, both, strings.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Valid || len(res.Signatures) != 2 {
			t.Fatalf("two seals: %+v", res)
		}
		if r := res.Signatures[0]; r.SealID != sa.ID || r.Organisation.CreditCode != a.Code || r.Purpose != "甲方签章" || r.Alg != "EdDSA" {
			t.Fatalf("first seal %+v", r)
		}
		if r := res.Signatures[1]; r.SealID != sb.ID || r.Organisation.CreditCode != b.Code || r.Purpose != "乙方签章" || r.Alg != "ES256" {
			t.Fatalf("second seal %+v", r)
		}
		if ja, jb := splitJWS(t, first), splitJWS(t, both); ja.Payload != jb.Payload || ja.Signatures[0].Signature != jb.Signatures[0].Signature {
			t.Fatal("adding a seal changed the payload or the first signature")
		}

		// Given the document as well: it must be the same one.
		_, err = h.svc.Sign(ctx, keeper(b), sb.ID, SignRequest{Existing: first, Document: testDoc("another"), Purpose: "乙方"})
		wantKind(t, err, errs.KindInvalid)
		if _, err := h.svc.Sign(ctx, keeper(b), sb.ID, SignRequest{Existing: first, Document: doc, Purpose: "乙方"}); err != nil {
			t.Fatal(err)
		}
		_, err = h.svc.Sign(ctx, keeper(a), sa.ID, SignRequest{Existing: both, Purpose: "again"})
		wantKind(t, err, errs.KindConflict)
		_, err = h.svc.Sign(ctx, keeper(b), sb.ID, SignRequest{Existing: []byte("{}"), Purpose: "x"})
		wantKind(t, err, errs.KindInvalid)
		tampered := splitJWS(t, first)
		tampered.Signatures[0].Signature = tampered.Signatures[0].Signature[:10] + flip(tampered.Signatures[0].Signature[10]) + tampered.Signatures[0].Signature[11:]
		_, err = h.svc.Sign(ctx, keeper(b), sb.ID, SignRequest{Existing: tampered.bytes(t), Purpose: "x"})
		wantKind(t, err, errs.KindInvalid)
	})
}

// flip returns a different base64url character.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestUsage(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市税务局")
		other := h.org(t, "襄阳市教育局")
		s := h.seal(t, org, KindInvoice, AlgEd25519)
		for i := range 7 {
			mustSign(t, h, keeper(org), s.ID, SignRequest{Document: testDoc(strings.Repeat("票", i+1)), Purpose: "开具发票"})
		}
		if err := h.svc.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		var all []UsageRecord
		cursor := ""
		for {
			page, next, err := h.svc.Usage(ctx, keeper(org), s.ID, cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		if len(all) != 7 {
			t.Fatalf("%d usage records, want 7", len(all))
		}
		for i, r := range all {
			if r.SealID != s.ID || r.PrincipalID != keeper(org).ID || r.DepartmentID != org.ID || r.Purpose != "开具发票" ||
				r.Kid != s.Keys[0].Kid || r.Document.SHA256 == "" || r.Document.Name != "采购合同.pdf" {
				t.Fatalf("record %+v", r)
			}
			if i > 0 && all[i-1].ID <= r.ID {
				t.Fatal("usage records are not newest first")
			}
		}
		if all[0].Document != testDoc(strings.Repeat("票", 7)) {
			t.Fatalf("newest record %+v", all[0])
		}
		_, _, err := h.svc.Usage(ctx, keeper(other), s.ID, "", 10)
		wantKind(t, err, errs.KindForbidden)
		auditor := &exchange.Principal{ID: "aud", DepartmentID: other.ID, Roles: []exchange.Role{exchange.RoleAuditor}}
		if recs, _, err := h.svc.Usage(ctx, auditor, s.ID, "", 10); err != nil || len(recs) != 7 {
			t.Fatalf("auditor: %d records, %v", len(recs), err)
		}

		// Close writes what is still buffered.
		mustSign(t, h, keeper(org), s.ID, SignRequest{Document: testDoc("last"), Purpose: "开具发票"})
		if err := h.svc.Close(); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM seal_usage WHERE seal_id = $1`, s.ID).Scan(&n); err != nil || n != 8 {
			t.Fatalf("%d records after Close (%v), want 8", n, err)
		}
		_, err = h.svc.Sign(ctx, keeper(org), s.ID, SignRequest{Document: testDoc("late"), Purpose: "x"})
		wantKind(t, err, errs.KindUnavailable)
	})
}

func TestDocumentValidate(t *testing.T) {
	ok := testDoc("x")
	for mt, want := range map[string]bool{
		"application/pdf": true, "image/svg+xml": true, "text/plain; charset=utf-8": true, "application/vnd.ms-excel": true,
		"":    true, // defaults to application/octet-stream
		"pdf": false, "a/": false, "/b": false, "a/b c": false, "a/b/c": false, "text/plain; charset": false, "中文/x": false,
		strings.Repeat("a", 64) + "/" + strings.Repeat("b", 64): false,
	} {
		d := ok
		d.MediaType = mt
		if err := d.validate("", checkText); (err == nil) != want {
			t.Errorf("media type %q: %v", mt, err)
		}
	}
	for sha, want := range map[string]bool{ok.SHA256: true, strings.ToUpper(ok.SHA256): true, ok.SHA256[:63]: false, ok.SHA256[:63] + "g": false} {
		d := ok
		d.SHA256 = sha
		if err := d.validate("", checkText); (err == nil) != want {
			t.Errorf("sha256 %q: %v", sha, err)
		}
	}
}

// Another replica learns of a revocation within its cache TTL. Until
// then it may still apply the seal, but such a signature carries a
// signing time after the revocation and does not verify.
func TestStaleReplica(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市应急管理局")
		s := h.seal(t, org, KindOfficial, AlgEd25519)
		replica, err := New(Config{DB: d, Master: h.master, Images: h.svc.images, Directory: h.ex,
			CacheTTL: 200 * time.Millisecond, Logger: h.svc.log})
		if err != nil {
			t.Fatal(err)
		}
		defer replica.Close()
		req := SignRequest{Document: testDoc("应急预案"), Purpose: "发布"}
		if _, err := replica.Sign(ctx, keeper(org), s.ID, req); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Revoke(ctx, h.admin, s.ID, "印章损毁"); err != nil {
			t.Fatal(err)
		}
		late, err := replica.Sign(ctx, keeper(org), s.ID, req)
		if err != nil {
			t.Skipf("the replica already saw the revocation: %v", err) // only if the machine stalled for the TTL
		}
		if res := mustVerify(t, h, late); res.Valid || res.Signatures[0].Reason != ReasonSealRevoked {
			t.Fatalf("signed by a stale replica after revocation: %+v", res.Signatures[0])
		}
		time.Sleep(250 * time.Millisecond)
		_, err = replica.Sign(ctx, keeper(org), s.ID, req)
		wantKind(t, err, errs.KindConflict)
		res, err := replica.Verify(ctx, late, nil)
		if err != nil || res.Valid || res.Signatures[0].Reason != ReasonSealRevoked {
			t.Fatalf("replica, after its TTL: %+v %v", res, err)
		}
	})
}
