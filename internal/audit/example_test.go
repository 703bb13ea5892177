package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
)

// An entry is appended, the log publishes a signed checkpoint, and an
// auditor who trusts only the checkpoint key checks that the entry is in
// the log.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "audit-example")
	defer os.RemoveAll(dir)
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(dir, "hub.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// The hub signs checkpoints; in production the key comes from
	// keys.Ring.Current(ctx, keys.PurposeCheckpoint) via keys.NoteSigner.
	const origin = "sharehub.example.gov.cn/audit"
	skey, vkey, _ := note.GenerateKey(nil, origin)
	signer, _ := note.NewSigner(skey)
	l, err := audit.Open(ctx, d, signer, audit.Options{Origin: origin})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close(ctx)

	// The API middleware appends one entry per call, before responding.
	e := audit.Entry{
		Time:         time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC),
		RequestID:    "req-1",
		PrincipalID:  "prn_housing_app",
		DepartmentID: "dept_housing",
		Method:       "GET",
		Route:        "/v1/licences/:id",
		Resources:    []string{"licence:1.2.156.3005.2.11100000000013338W.001"},
		Purpose:      "住房保障资格审核",
		Status:       200,
		Rows:         1,
		Latency:      12 * time.Millisecond,
		RequestHash:  sha256.Sum256([]byte("GET /v1/licences/...")),
	}
	index, err := l.Append(ctx, e)
	if err != nil {
		log.Fatal(err) // fail closed: the API answers 503
	}
	for i := range 9 {
		e.RequestID = fmt.Sprintf("req-%d", i+2)
		if _, err := l.Append(ctx, e); err != nil {
			log.Fatal(err)
		}
	}

	// The auditor fetches the latest checkpoint and checks its signature.
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		log.Fatal(err)
	}
	verifier, _ := note.NewVerifier(vkey)
	signed, err := audit.OpenCheckpoint(cp.Note, origin, note.VerifierList(verifier))
	if err != nil {
		log.Fatal(err)
	}

	// Then the entry, hashed as the log hashes it, and its inclusion proof.
	got, _ := l.Entry(ctx, index)
	leaf := rfc6962.DefaultHasher.HashLeaf(audit.LeafData(got))
	hashes, err := l.InclusionProof(ctx, index, signed.Size)
	if err != nil {
		log.Fatal(err)
	}
	err = proof.VerifyInclusion(rfc6962.DefaultHasher, index, signed.Size, leaf, hashes, signed.Root)
	fmt.Printf("entry %d is in the log of %d entries: %v\n", index, signed.Size, err == nil)

	// A changed entry does not verify.
	got.Status = 403
	forged := rfc6962.DefaultHasher.HashLeaf(audit.LeafData(got))
	err = proof.VerifyInclusion(rfc6962.DefaultHasher, index, signed.Size, forged, hashes, signed.Root)
	fmt.Println("a changed entry verifies:", err == nil)
	fmt.Println("checkpoint starts with:", string(bytes.SplitN(cp.Note, []byte("\n"), 2)[0]))

	// Output:
	// entry 0 is in the log of 10 entries: true
	// a changed entry verifies: false
	// checkpoint starts with: sharehub.example.gov.cn/audit
}
