package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// Purposes of hub keys.
const (
	PurposeCheckpoint = "checkpoint" // signs audit log checkpoints (C2SP signed note)
	PurposeToken      = "token"      // signs QR tokens and other short-lived hub statements
	PurposeLink       = "link"       // HMAC secret for local download links
)

// HubKey is one of the hub's own Ed25519 key pairs.
type HubKey struct {
	ID        string
	Purpose   string
	Public    ed25519.PublicKey
	Private   ed25519.PrivateKey
	CreatedAt time.Time
	RetiredAt time.Time // zero while current
}

// Ring loads and creates the hub's keys in the hub_keys table.
type Ring struct {
	DB     *db.DB
	Master *MasterKey
}

// Current returns the newest unretired key of purpose, creating one when
// there is none. Concurrent callers (several replicas) may race to create;
// the loser reads the winner's key (hub_keys_one_current lets one key of
// a purpose be current, and the loser's INSERT is skipped).
func (r *Ring) Current(ctx context.Context, purpose string) (*HubKey, error) {
	k, err := r.current(ctx, purpose)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, db.Interpret(err, "hub key")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(pub)
	id := purpose + "-" + base64.RawURLEncoding.EncodeToString(sum[:9])
	_, err = r.DB.W.ExecContext(ctx,
		`INSERT INTO hub_keys (id, purpose, alg, public_key, private_enc, created_at) VALUES ($1, $2, 'Ed25519', $3, $4, $5)`+r.DB.InsertIgnore(),
		id, purpose, []byte(pub), r.Master.Seal(priv.Seed(), "hub_keys/"+id), time.Now().UnixMicro())
	if err != nil {
		return nil, db.Interpret(err, "hub key")
	}
	k, err = r.current(ctx, purpose)
	return k, db.Interpret(err, "hub key")
}

func (r *Ring) current(ctx context.Context, purpose string) (*HubKey, error) {
	row := r.DB.W.QueryRowContext(ctx,
		`SELECT id, public_key, private_enc, created_at FROM hub_keys WHERE purpose = $1 AND retired_at IS NULL ORDER BY created_at DESC, id LIMIT 1`, purpose)
	var (
		k   HubKey
		pub []byte
		enc []byte
		at  int64
	)
	if err := row.Scan(&k.ID, &pub, &enc, &at); err != nil {
		return nil, err
	}
	seed, err := r.Master.Open(enc, "hub_keys/"+k.ID)
	if err != nil {
		return nil, fmt.Errorf("hub key %s: %w", k.ID, err)
	}
	k.Purpose = purpose
	k.Public = ed25519.PublicKey(pub)
	k.Private = ed25519.NewKeyFromSeed(seed)
	k.CreatedAt = time.UnixMicro(at)
	return &k, nil
}

// Public lists every public key of purpose, retired ones included, so that
// anything they signed stays verifiable.
func (r *Ring) Public(ctx context.Context, purpose string) ([]HubKey, error) {
	rows, err := r.DB.R.QueryContext(ctx,
		`SELECT id, public_key, created_at, retired_at FROM hub_keys WHERE purpose = $1 ORDER BY created_at`, purpose)
	if err != nil {
		return nil, db.Interpret(err, "hub keys")
	}
	defer rows.Close()
	var out []HubKey
	for rows.Next() {
		var (
			k       HubKey
			pub     []byte
			at      int64
			retired sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &pub, &at, &retired); err != nil {
			return nil, db.Interpret(err, "hub keys")
		}
		k.Purpose, k.Public, k.CreatedAt = purpose, pub, time.UnixMicro(at)
		if retired.Valid {
			k.RetiredAt = time.UnixMicro(retired.Int64)
		}
		out = append(out, k)
	}
	return out, db.Interpret(rows.Err(), "hub keys")
}

// Rotate retires the current key of purpose; the next Current creates a new
// one. The retired public key stays listed by Public.
func (r *Ring) Rotate(ctx context.Context, purpose string) error {
	_, err := r.DB.W.ExecContext(ctx, `UPDATE hub_keys SET retired_at = $1 WHERE purpose = $2 AND retired_at IS NULL`,
		time.Now().UnixMicro(), purpose)
	return db.Interpret(err, "hub key")
}

// NoteSigner returns a C2SP signed-note signer for the key, named name
// (the log's origin, e.g. "sharehub.example.gov.cn/audit").
func NoteSigner(name string, k *HubKey) (note.Signer, error) {
	skey, err := noteKey("PRIVATE+KEY+", name, k.Public, k.Private.Seed())
	if err != nil {
		return nil, err
	}
	return note.NewSigner(skey)
}

// NoteVerifierKey returns the verifier key text ("name+hash+base64") for k,
// the form auditors configure and `sharehub audit verify` accepts.
func NoteVerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	return noteKey("", name, pub, pub)
}

func noteKey(prefix, name string, pub ed25519.PublicKey, material []byte) (string, error) {
	// Layout per golang.org/x/mod/sumdb/note: name+hash+base64(alg||key),
	// hash = first 4 bytes of SHA-256(name || "\n" || alg || pubkey), big-endian.
	const algEd25519 = 1
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write([]byte{algEd25519})
	h.Write(pub)
	sum := h.Sum(nil)
	hash := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	text := fmt.Sprintf("%s%s+%08x+%s", prefix, name, hash, base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, material...)))
	if prefix == "" {
		if _, err := note.NewVerifier(text); err != nil {
			return "", err
		}
	}
	return text, nil
}
