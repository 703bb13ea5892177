package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/hub"
	"github.com/xiangyang-gov/sharehub/seal"
)

const sealUsage = `usage: sharehub seal verify FILE.jws [--document FILE] [--jwks FILE|URL] [--ca FILE.pem] [--json]

Verifies a sealed document (a JWS in JSON serialization made by the hub's
e-seal service) offline: each signature's certificate chain to the hub's
seal CA, the signature, the seal's key and status at signing time (from the
published key set), and with --document the document's SHA-256 and size.

  --jwks   the hub's key set: a file, or a URL such as
           https://HUB/.well-known/jwks.json (fetched once)
  --ca     pin the hub's seal CA certificate (GET /v1/ca.pem); with --jwks
           the key set's own CA list is then not trusted. With --ca alone,
           revocation and key retirement cannot be checked.

Exit status: 0 every signature valid, 1 not valid (the reasons are
printed), 2 usage error.
`

// cmdSeal runs `sharehub seal verify`.
func cmdSeal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, sealUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, sealUsage)
		return &exitError{2, errors.New("seal: say what to do; today: verify")}
	}
	fs := newFlagSet("seal verify", stderr)
	docFile := fs.String("document", "", "the document the JWS seals; its digest and size are checked")
	jwksSrc := fs.String("jwks", "", "the hub's key set: FILE or http(s) URL")
	caFile := fs.String("ca", "", "the hub's seal CA certificate(s), PEM")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	file, err := parseWithFile(fs, args[1:], nil)
	if err != nil {
		fmt.Fprint(stderr, sealUsage)
		return err
	}
	if *jwksSrc == "" && *caFile == "" {
		fmt.Fprint(stderr, sealUsage)
		return &exitError{2, errors.New("seal verify: give --jwks FILE|URL or --ca FILE.pem")}
	}
	jws, err := os.ReadFile(file)
	if err != nil {
		return &exitError{2, err}
	}
	var doc io.Reader
	if *docFile != "" {
		f, err := os.Open(*docFile)
		if err != nil {
			return &exitError{2, err}
		}
		defer f.Close()
		doc = f
	}
	res, err := verifySealed(ctx, jws, doc, *jwksSrc, *caFile)
	if err != nil {
		return &exitError{1, fmt.Errorf("%s: %w", file, err)}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		printSealResult(stdout, file, res)
	}
	if !res.Valid {
		return &exitError{1, fmt.Errorf("%s is not validly sealed", file)}
	}
	return nil
}

// verifySealed verifies jws offline with the key set at jwksSrc (file or
// URL) and/or the CA certificates in caFile.
func verifySealed(ctx context.Context, jws []byte, doc io.Reader, jwksSrc, caFile string) (seal.Result, error) {
	var ks *seal.KeySet
	if jwksSrc != "" {
		b, err := readSource(ctx, jwksSrc)
		if err != nil {
			return seal.Result{}, fmt.Errorf("--jwks: %w", err)
		}
		if ks, err = seal.ParseJWKS(b); err != nil {
			return seal.Result{}, fmt.Errorf("--jwks: %w", err)
		}
	}
	var cas []*x509.Certificate
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return seal.Result{}, fmt.Errorf("--ca: %w", err)
		}
		if cas, err = seal.ParseCertificates(b); err != nil {
			return seal.Result{}, fmt.Errorf("--ca: %w", err)
		}
	}
	v, err := seal.NewVerifier(cas, ks)
	if err != nil {
		return seal.Result{}, err
	}
	return v.Verify(jws, doc)
}

// readSource reads a file, or GETs an http(s) URL (at most 32 MiB).
func readSource(ctx context.Context, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		return os.ReadFile(src)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", src, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	const limit = 32 << 20
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", src, resp.Status)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("GET %s: over %d bytes", src, limit)
	}
	return b, nil
}

func printSealResult(w io.Writer, file string, res seal.Result) {
	verdict := "VALID"
	if !res.Valid {
		verdict = "NOT VALID"
	}
	d := res.Document
	checked := "document not checked (give --document FILE)"
	if res.DocumentChecked {
		checked = "document checked"
	}
	fmt.Fprintf(w, "%s: %s — %d seal(s) on %q (%s, %d bytes, sha256 %s); %s\n", file, verdict, len(res.Signatures), d.Name, d.MediaType, d.Size, d.SHA256, checked)
	var b bytes.Buffer
	for _, s := range res.Signatures {
		b.Reset()
		if s.Valid {
			fmt.Fprintf(&b, "  [%d] valid", s.Index)
		} else {
			fmt.Fprintf(&b, "  [%d] NOT VALID: %s", s.Index, s.Reason)
			if s.Detail != "" {
				fmt.Fprintf(&b, " (%s)", s.Detail)
			}
		}
		if s.SealName != "" || s.SealID != "" {
			fmt.Fprintf(&b, "\n      seal %s %s [%s]", s.SealName, s.SealID, s.Kind)
		}
		if s.Organisation.Name != "" || s.Organisation.CreditCode != "" {
			fmt.Fprintf(&b, "\n      organisation %s %s", s.Organisation.Name, s.Organisation.CreditCode)
		}
		if !s.SignedAt.IsZero() {
			fmt.Fprintf(&b, "\n      signed %s, purpose %q", s.SignedAt.Format(time.RFC3339), s.Purpose)
		}
		if s.StatusNow != "" {
			fmt.Fprintf(&b, "\n      seal status at signing %s, now %s", s.StatusAtSigning, s.StatusNow)
		}
		if !s.KeyChecked {
			b.WriteString("\n      key status not checked (no key set)")
		}
		fmt.Fprintln(w, b.String())
	}
}

// printSealDemo prints the e-seal part of the demo: curl commands that seal
// a file with the data bureau's 公章, add the civil affairs bureau's, and
// verify the result online and offline.
func printSealDemo(w io.Writer, u string, res hub.DemoResult) {
	var sealers []string // in SeedDemo's order: the data bureau's, then civil affairs'
	for _, k := range res.Keys {
		if k.Role == "seal-user" {
			sealers = append(sealers, k.Secret)
		}
	}
	if res.SealID == "" || res.SecondSealID == "" || len(sealers) < 2 {
		return
	}
	fmt.Fprintf(w, `
E-seals: %d demo 公章 (one per department). Seal keepers' keys (role seal-user):
  %s   (政务服务和大数据管理局, seal %s)
  %s   (民政局, seal %s)
Seal a file, add a second organisation's seal, verify online and offline:
  echo '襄阳市数据共享合作协议' > /tmp/contract.txt
  curl -s %s/v1/seals/%s/sign -H 'Authorization: Bearer %s' \
       -F file=@/tmp/contract.txt -F purpose=签订数据共享合作协议 > /tmp/contract.jws
  curl -s %s/v1/seals/%s/sign -H 'Authorization: Bearer %s' \
       -F 'existing=</tmp/contract.jws' -F purpose=签订数据共享合作协议 > /tmp/contract2.jws
  curl -s %s/v1/signatures/verify -F 'jws=</tmp/contract2.jws' -F document=@/tmp/contract.txt
  go run ./cmd/sharehub seal verify /tmp/contract2.jws --document /tmp/contract.txt --jwks %s/.well-known/jwks.json
  curl -s %s/v1/seals/%s/image -H 'Authorization: Bearer %s' > /tmp/seal.svg   # the seal picture
`, res.Seals, sealers[0], res.SealID, sealers[1], res.SecondSealID,
		u, res.SealID, sealers[0], u, res.SecondSealID, sealers[1], u, u, u, res.SealID, sealers[0])
}
