package keys_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/keys"
)

func TestMasterKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "master.key")
	if _, err := keys.LoadMaster(p, false); err == nil {
		t.Fatal("LoadMaster of a missing file without create succeeded")
	}
	m1, err := keys.LoadMaster(p, true)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := keys.LoadMaster(p, false)
	if err != nil {
		t.Fatal(err)
	}
	ct := m1.Seal([]byte("secret"), "label")
	if bytes.Contains(ct, []byte("secret")) {
		t.Fatal("ciphertext holds the plaintext")
	}
	pt, err := m2.Open(ct, "label")
	if err != nil || string(pt) != "secret" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := m2.Open(ct, "other"); err == nil {
		t.Fatal("Open with another label succeeded")
	}
	ct[len(ct)-1] ^= 1
	if _, err := m2.Open(ct, "label"); err == nil {
		t.Fatal("Open of tampered ciphertext succeeded")
	}
	if _, err := keys.ParseMaster("abc"); err == nil {
		t.Fatal("ParseMaster(abc) succeeded")
	}
}

func TestRing(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m, _ := keys.NewMaster(bytes.Repeat([]byte{7}, 32))
		r := &keys.Ring{DB: d, Master: m}
		k1, err := r.Current(ctx, keys.PurposeCheckpoint)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := r.Current(ctx, keys.PurposeCheckpoint)
		if err != nil || k2.ID != k1.ID {
			t.Fatalf("second Current = %v, %v; want the same key", k2, err)
		}
		var enc []byte
		if err := d.R.QueryRowContext(ctx, "SELECT private_enc FROM hub_keys WHERE id = $1", k1.ID).Scan(&enc); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(enc, k1.Private.Seed()) {
			t.Fatal("hub_keys holds the private key in the clear")
		}
		wrong, _ := keys.NewMaster(bytes.Repeat([]byte{8}, 32))
		if _, err := (&keys.Ring{DB: d, Master: wrong}).Current(ctx, keys.PurposeCheckpoint); err == nil {
			t.Fatal("Current with the wrong master key succeeded")
		}
		if err := r.Rotate(ctx, keys.PurposeCheckpoint); err != nil {
			t.Fatal(err)
		}
		k3, err := r.Current(ctx, keys.PurposeCheckpoint)
		if err != nil || k3.ID == k1.ID {
			t.Fatalf("after Rotate Current = %v, %v; want a new key", k3, err)
		}
		pubs, err := r.Public(ctx, keys.PurposeCheckpoint)
		if err != nil || len(pubs) != 2 || pubs[0].RetiredAt.IsZero() {
			t.Fatalf("Public = %+v, %v; want the retired and the current key", pubs, err)
		}

		s, err := keys.NoteSigner("example/log", k3)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := note.Sign(&note.Note{Text: "example/log\n1\nAAAA\n"}, s)
		if err != nil {
			t.Fatal(err)
		}
		vk, err := keys.NoteVerifierKey("example/log", k3.Public)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := note.NewVerifier(vk)
		if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
			t.Fatalf("note does not verify with NoteVerifierKey: %v", err)
		}
		if !ed25519.PublicKey(k3.Public).Equal(k3.Private.Public()) {
			t.Fatal("public and private key do not match")
		}
	})
}
