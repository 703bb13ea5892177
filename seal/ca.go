package seal

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// caLockKey serialises CA creation across replicas on PostgreSQL.
const caLockKey = 0x5348_5345_414c // "SHSEAL"

// loadCAs reads the CA certificates into the trust store: once, then again
// only while there is none (another replica may create it) at most once
// per cache TTL, or when force is set.
func (s *Service) loadCAs(ctx context.Context, force bool) error {
	if last := s.caLoaded.Load(); !force && last != 0 {
		if len(s.trust.authorities()) > 0 || time.Since(time.Unix(0, last)) < s.ttl {
			return nil
		}
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, cert_der FROM seal_ca ORDER BY created_at, id`)
	if err != nil {
		return db.Interpret(err, "seal CA")
	}
	defer rows.Close()
	var cas []*authority
	for rows.Next() {
		var id string
		var der []byte
		if err := rows.Scan(&id, &der); err != nil {
			return db.Interpret(err, "seal CA")
		}
		a, err := newAuthority(id, der)
		if err != nil {
			return errs.Internal(err, "seal CA")
		}
		cas = append(cas, a)
	}
	if err := rows.Err(); err != nil {
		return db.Interpret(err, "seal CA")
	}
	s.trust.setCAs(cas)
	s.caLoaded.Store(time.Now().UnixNano())
	return nil
}

// issuingCA returns the current CA with its private key, creating the CA
// when the hub has none. The key is decrypted for this call only.
func (s *Service) issuingCA(ctx context.Context) (*authority, error) {
	s.caMu.Lock()
	defer s.caMu.Unlock()
	var a *authority
	created := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.db.LockTx(ctx, tx, caLockKey); err != nil {
			return err
		}
		var id string
		var enc, der []byte
		err := tx.QueryRowContext(ctx,
			`SELECT id, private_enc, cert_der FROM seal_ca WHERE retired_at IS NULL ORDER BY created_at DESC, id LIMIT 1`).
			Scan(&id, &enc, &der)
		if err == nil {
			if a, err = newAuthority(id, der); err != nil {
				return err
			}
			seed, err := s.master.Open(enc, "seal_ca/"+id)
			if err != nil {
				return err
			}
			if len(seed) != ed25519.SeedSize {
				return errors.New("seal CA key has the wrong size")
			}
			a.priv = ed25519.NewKeyFromSeed(seed)
			if !a.priv.Public().(ed25519.PublicKey).Equal(a.cert.PublicKey) {
				return errors.New("seal CA key does not match its certificate")
			}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := s.now().UTC()
		if a, err = createAuthority(s.caName, now); err != nil {
			return err
		}
		created = true
		_, err = tx.ExecContext(ctx,
			`INSERT INTO seal_ca (id, alg, public_key, private_enc, cert_der, created_at) VALUES ($1, 'Ed25519', $2, $3, $4, $5)`,
			a.id, []byte(a.priv.Public().(ed25519.PublicKey)), s.master.Seal(a.priv.Seed(), "seal_ca/"+a.id), a.der, now.UnixMicro())
		return err
	})
	if err != nil {
		return nil, db.Interpret(err, "seal CA")
	}
	if created {
		s.log.Info("created the hub's seal CA", "id", a.id, "subject", a.cert.Subject.String())
		if err := s.loadCAs(ctx, true); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// CACertificate returns the DER certificate of the hub's newest seal CA,
// the root a verifier needs to check any seal. The CA is created on first
// use.
func (s *Service) CACertificate(ctx context.Context) ([]byte, error) {
	cas, err := s.authorities(ctx)
	if err != nil {
		return nil, err
	}
	return cas[len(cas)-1].der, nil
}

// CACertificatesPEM returns every seal CA certificate the hub has had, as
// PEM, creating the CA on first use.
func (s *Service) CACertificatesPEM(ctx context.Context) ([]byte, error) {
	cas, err := s.authorities(ctx)
	if err != nil {
		return nil, err
	}
	ders := make([][]byte, len(cas))
	for i, a := range cas {
		ders[i] = a.der
	}
	return encodePEM(ders...), nil
}

// authorities returns the CA certificates, creating the CA if there is none.
func (s *Service) authorities(ctx context.Context) ([]*authority, error) {
	if err := s.loadCAs(ctx, false); err != nil {
		return nil, err
	}
	if cas := s.trust.authorities(); len(cas) > 0 {
		return cas, nil
	}
	if _, err := s.issuingCA(ctx); err != nil {
		return nil, err
	}
	if err := s.loadCAs(ctx, true); err != nil {
		return nil, err
	}
	return s.trust.authorities(), nil
}
