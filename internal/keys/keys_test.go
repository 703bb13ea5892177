package keys_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"sync"
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

// TestRingCurrentRace: replicas starting together on a fresh database all
// sign with one key. Each Current that finds no key creates one; without
// a constraint, two that both found none each kept their own.
func TestRingCurrentRace(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m, _ := keys.NewMaster(bytes.Repeat([]byte{7}, 32))
		for round := 0; round < 20; round++ {
			purpose := fmt.Sprintf("race-%d", round)
			ids := make([]string, 6)
			errs := make([]error, len(ids))
			var start, wg sync.WaitGroup
			start.Add(1)
			for i := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					start.Wait()
					k, err := (&keys.Ring{DB: d, Master: m}).Current(ctx, purpose)
					if err == nil {
						ids[i] = k.ID
					}
					errs[i] = err
				}()
			}
			start.Done()
			wg.Wait()
			for i := range ids {
				if errs[i] != nil {
					t.Fatalf("round %d: Current: %v", round, errs[i])
				}
				if ids[i] != ids[0] {
					t.Fatalf("round %d: concurrent Current gave keys %v; want one", round, ids)
				}
			}
		}
		// The constraint itself: a second current key of a purpose is
		// refused, a new one after Rotate is not.
		r := &keys.Ring{DB: d, Master: m}
		k, err := r.Current(ctx, "race-0")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.W.ExecContext(ctx, `INSERT INTO hub_keys (id, purpose, alg, public_key, private_enc, created_at) VALUES ('second', 'race-0', 'Ed25519', $1, $1, 1)`,
			[]byte(k.Public)); err == nil {
			t.Fatal("a second current key of one purpose was stored")
		}
		if err := r.Rotate(ctx, "race-0"); err != nil {
			t.Fatal(err)
		}
		if k2, err := r.Current(ctx, "race-0"); err != nil || k2.ID == k.ID {
			t.Fatalf("after Rotate: %v, %v", k2, err)
		}
	})
}

// TestOneCurrentKeyMigration: a database where the race left two current
// keys of a purpose keeps the one Ring.Current used (the newest) current
// and retires the other, which stays listed.
func TestOneCurrentKeyMigration(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ms, err := d.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		var step string
		for _, m := range ms {
			if m.Name == "hub_key_one_current" {
				step = m.SQL
			}
		}
		if step == "" {
			t.Fatal("no migration hub_key_one_current")
		}
		if _, err := d.W.ExecContext(ctx, `DROP INDEX hub_keys_one_current`); err != nil {
			t.Fatal(err)
		}
		for _, k := range []struct {
			id      string
			purpose string
			at      int64
		}{{"old", "p", 1}, {"new", "p", 2}, {"only", "q", 1}, {"retired", "p", 0}} {
			if _, err := d.W.ExecContext(ctx, `INSERT INTO hub_keys (id, purpose, alg, public_key, private_enc, created_at) VALUES ($1, $2, 'Ed25519', $3, $3, $4)`,
				k.id, k.purpose, []byte{1}, k.at); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.W.ExecContext(ctx, `UPDATE hub_keys SET retired_at = 5 WHERE id = 'retired'`); err != nil {
			t.Fatal(err)
		}
		if _, err := d.W.ExecContext(ctx, step); err != nil {
			t.Fatalf("migration: %v", err)
		}
		rows, err := d.R.QueryContext(ctx, `SELECT id FROM hub_keys WHERE retired_at IS NULL ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var current []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			current = append(current, id)
		}
		if fmt.Sprint(current) != "[new only]" {
			t.Fatalf("current keys after the migration: %v; want [new only]", current)
		}
		var n int
		if err := d.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM hub_keys`).Scan(&n); err != nil || n != 4 {
			t.Fatalf("keys after the migration: %d, %v; want all 4 kept", n, err)
		}
	})
}
