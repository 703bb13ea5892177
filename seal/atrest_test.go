package seal

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// Neither the database nor the blob store holds a private key in the
// clear: every table's every value and every stored object is searched for
// each private key (seed, expanded key, scalar, PKCS #8) in raw, hex and
// base64 forms.
func TestNoPrivateKeyInTheClear(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := newTestHub(t, d)
		org := h.org(t, "襄阳市司法局")
		ed := h.seal(t, org, KindOfficial, AlgEd25519)
		es := h.seal(t, org, KindContract, AlgES256)
		if _, err := h.svc.RotateKey(ctx, h.admin, ed.ID); err != nil {
			t.Fatal(err)
		}
		mustSign(t, h, keeper(org), ed.ID, SignRequest{Document: testDoc("公证书"), Purpose: "公证"})
		mustSign(t, h, keeper(org), es.ID, SignRequest{Document: testDoc("公证书"), Purpose: "公证"})
		if err := h.svc.FlushUsage(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.JWKS(ctx); err != nil {
			t.Fatal(err)
		}

		// The secrets, recovered through the master key as the hub does.
		var secrets [][]byte
		rows, err := d.R.QueryContext(ctx, `SELECT kid, private_enc FROM seal_keys`)
		if err != nil {
			t.Fatal(err)
		}
		nkeys := 0
		for rows.Next() {
			var kid string
			var enc []byte
			if err := rows.Scan(&kid, &enc); err != nil {
				t.Fatal(err)
			}
			pkcs8, err := h.master.Open(enc, "seal_keys/"+kid)
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, pkcs8)
			k, err := x509.ParsePKCS8PrivateKey(pkcs8)
			if err != nil {
				t.Fatal(err)
			}
			switch k := k.(type) {
			case ed25519.PrivateKey:
				secrets = append(secrets, k.Seed(), k)
			case *ecdsa.PrivateKey:
				raw, err := k.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				secrets = append(secrets, raw)
				if der, err := x509.MarshalECPrivateKey(k); err == nil {
					secrets = append(secrets, der)
				}
			default:
				t.Fatalf("key %s is a %T", kid, k)
			}
			nkeys++
		}
		rows.Close()
		var caID string
		var caEnc []byte
		if err := d.R.QueryRowContext(ctx, `SELECT id, private_enc FROM seal_ca`).Scan(&caID, &caEnc); err != nil {
			t.Fatal(err)
		}
		caSeed, err := h.master.Open(caEnc, "seal_ca/"+caID)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, caSeed, ed25519.NewKeyFromSeed(caSeed))
		if caPKCS8, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(caSeed)); err == nil {
			secrets = append(secrets, caPKCS8)
		}
		if nkeys != 3 {
			t.Fatalf("%d seal keys, want 3", nkeys)
		}
		var forms [][]byte
		for _, s := range secrets {
			forms = append(forms, s, []byte(hex.EncodeToString(s)), []byte(base64.StdEncoding.EncodeToString(s)),
				[]byte(base64.RawURLEncoding.EncodeToString(s)))
		}
		check := func(where string, b []byte) {
			for _, f := range forms {
				if bytes.Contains(b, f) || bytes.Contains(bytes.ToLower(b), bytes.ToLower(f)) {
					t.Fatalf("%s holds a private key in the clear", where)
				}
			}
		}

		scanned := 0
		for _, table := range tables(t, d) {
			rows, err := d.R.QueryContext(ctx, `SELECT * FROM `+table)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					check(fmt.Sprintf("%s.%s", table, cols[i]), asBytes(v))
					scanned++
				}
			}
			rows.Close()
		}
		if scanned < 50 {
			t.Fatalf("scanned only %d values", scanned)
		}
		jwks, _ := h.svc.JWKS(ctx)
		check("the JWKS", jwks)

		files := 0
		err = filepath.WalkDir(h.blobDir, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			check("blob "+path, b)
			files++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files == 0 {
			t.Fatal("no blob files to scan")
		}
	})
}

// tables lists the tables of the test database.
func tables(t *testing.T, d *db.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if d.Dialect == db.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := d.R.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	want := map[string]bool{"seal_ca": false, "seal_keys": false, "seals": false, "seal_usage": false, "hub_keys": false}
	for _, n := range out {
		if _, ok := want[n]; ok {
			want[n] = true
		}
	}
	for n, ok := range want {
		if !ok {
			t.Fatalf("table %s not found among %v", n, out)
		}
	}
	return out
}

func asBytes(v any) []byte {
	switch v := v.(type) {
	case nil:
		return nil
	case []byte:
		return v
	case string:
		return []byte(v)
	default:
		return []byte(fmt.Sprint(v))
	}
}
