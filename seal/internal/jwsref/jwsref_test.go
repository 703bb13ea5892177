package jwsref

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type vector struct {
	Source   string         `json:"source"`
	JWK      map[string]any `json:"jwk"`
	PrivateD string         `json:"private_d"`
	Payload  string         `json:"payload"`
	JWS      string         `json:"jws"`
}

func loadVector(t *testing.T, name string) vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The published examples verify, and any change to them does not.
func TestRFCExamples(t *testing.T) {
	for _, name := range []string{"rfc8037-a4-ed25519.json", "rfc7515-a3-es256.json"} {
		t.Run(name, func(t *testing.T) {
			v := loadVector(t, name)
			key, err := PublicKey(v.JWK)
			if err != nil {
				t.Fatal(err)
			}
			payload, hdr, err := VerifyCompact(v.JWS, key)
			if err != nil {
				t.Fatalf("%s: %v", v.Source, err)
			}
			if string(payload) != v.Payload || hdr["alg"] == nil {
				t.Fatalf("payload %q header %v", payload, hdr)
			}
			// The same signature in the flattened JSON serialization.
			p := strings.Split(v.JWS, ".")
			flat, _ := json.Marshal(map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]})
			if _, sigs, err := VerifyJSON(flat, func(map[string]any, map[string]any) (crypto.PublicKey, error) { return key, nil }); err != nil || len(sigs) != 1 {
				t.Fatalf("flattened: %v", err)
			}
			// The private key in the example is the one of the public key.
			d, _ := base64.RawURLEncoding.DecodeString(v.PrivateD)
			switch k := key.(type) {
			case ed25519.PublicKey:
				if !ed25519.NewKeyFromSeed(d).Public().(ed25519.PublicKey).Equal(k) {
					t.Fatal("d does not match x")
				}
			case *ecdsa.PublicKey:
				x, y := elliptic.P256().ScalarBaseMult(new(big.Int).SetBytes(d).Bytes())
				if x.Cmp(k.X) != 0 || y.Cmp(k.Y) != 0 {
					t.Fatal("d does not match x, y")
				}
			}

			bad := map[string]string{
				"payload":   p[0] + "." + p[1][:len(p[1])-2] + "xx." + p[2],
				"signature": p[0] + "." + p[1] + "." + flipChar(p[2], 7),
				"alg none":  b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + p[1] + ".",
				"HS256":     b64.EncodeToString([]byte(`{"alg":"HS256"}`)) + "." + p[1] + "." + p[2],
				"crit":      b64.EncodeToString([]byte(`{"alg":"EdDSA","crit":["x"],"x":1}`)) + "." + p[1] + "." + p[2],
			}
			for what, tok := range bad {
				if _, _, err := VerifyCompact(tok, key); err == nil {
					t.Errorf("changed %s: verified", what)
				}
			}
		})
	}
}

func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}
