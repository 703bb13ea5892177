package licence_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/xiangyang-gov/sharehub/licence"
)

// A verifier checks a QR token offline: it fetched the hub's token keys
// once from /.well-known/licence-token-jwks.json and needs no network to
// tell a genuine, unaltered token from anything else. (Expiry, and whether
// the licence changed since, are what the hub's /verify page adds.)
func ExampleParseToken() {
	// The hub's side, here with a fixed key: a token as IssueQR makes it.
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType(licence.TokenTyp).WithHeader("kid", "token-demo"))
	// (ref is the licence, sealed so that only the hub can read it.)
	obj, _ := signer.Sign([]byte(`{"iss":"sharehub","ref":"q2pX0CWf9l3Yb1hJk4sR7vEo","ver":1,"iat":1795600000,"exp":1795600300,"jti":"a1"}`))
	token, _ := obj.CompactSerialize()

	// The verifier's side.
	x := base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	keys, err := licence.KeysFromJWKS([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"token-demo","use":"sig","alg":"EdDSA"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	claims, outcome, _ := licence.ParseToken(token, keys)
	fmt.Println(outcome, claims.Version, claims.Expires-claims.IssuedAt, "s")
	_, outcome, why := licence.ParseToken(token[:len(token)-2]+"AA", keys)
	fmt.Println(outcome, "-", why)
	// Output:
	// valid 1 300 s
	// forged - the signature does not verify: the token was altered or not made by this hub
}
