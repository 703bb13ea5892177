package licence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/xiangyang-gov/sharehub/seal"
)

// Verification is the outcome of checking a licence's current version.
type Verification struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	// Valid is true when the seal verifies, the sealed digest is the
	// stored data's and the file (if any) matches its sealed digest.
	Valid bool `json:"valid"`
	// Problems say what failed, in plain words.
	Problems    []string    `json:"problems,omitempty"`
	FileChecked bool        `json:"file_checked"`
	Status      Status      `json:"status"`
	StatusName  string      `json:"status_name"`
	Seal        seal.Result `json:"seal"`
}

// Verify checks the seal over the current version of a licence (a good
// seal of the licence's issuing department, and no other) and, when it has
// a file, the file's digest against the sealed one.
func (s *Service) Verify(ctx context.Context, id string) (Verification, error) {
	l, err := s.Get(ctx, id)
	if err != nil {
		return Verification{}, err
	}
	st := l.StatusAt(s.now())
	out := Verification{ID: l.ID, Version: l.Version, Status: st, StatusName: st.Name()}
	v, doc, manifest, err := s.version(ctx, l.Key(), l.Version)
	if err != nil {
		return out, err
	}
	sum := sha256.Sum256(doc)
	if hex.EncodeToString(sum[:]) != v.Digest {
		out.Problems = append(out.Problems, "the stored licence data does not match its recorded digest")
	}
	var sealed io.Reader = bytes.NewReader(doc)
	if v.BatchID != "" {
		i := v.BatchIndex * sha256.Size
		if i+sha256.Size > len(manifest) || !bytes.Equal(manifest[i:i+sha256.Size], sum[:]) {
			out.Problems = append(out.Problems, "the licence's digest is not in its seal batch's manifest")
		}
		sealed = bytes.NewReader(manifest)
	}
	res, err := s.cfg.Sealer.Verify(ctx, []byte(v.SealJWS), sealed)
	if err != nil {
		out.Problems = append(out.Problems, "the seal cannot be read: "+err.Error())
	} else {
		out.Seal = res
		for _, sr := range res.Signatures {
			if !sr.Valid {
				out.Problems = append(out.Problems, "seal: "+string(sr.Reason)+" "+sr.Detail)
			}
			if p := foreignSeal(&l, &sr); p != "" {
				out.Problems = append(out.Problems, p)
			}
		}
	}
	if l.File != nil {
		out.FileChecked = true
		if s.cfg.Files == nil {
			out.Problems = append(out.Problems, "no file store configured")
		} else if rc, _, err := s.cfg.Files.Get(ctx, l.File.SHA256); err != nil {
			out.Problems = append(out.Problems, "the file cannot be read: "+err.Error())
		} else {
			h := sha256.New()
			_, cerr := io.Copy(h, rc)
			rc.Close()
			if cerr != nil || hex.EncodeToString(h.Sum(nil)) != l.File.SHA256 {
				out.Problems = append(out.Problems, "the stored file does not match the sealed file digest")
			}
		}
	}
	out.Valid = len(out.Problems) == 0
	return out, nil
}

// foreignSeal says how a seal on l is not its issuing department's, or
// returns "" when it is. A seal's owner is as the hub CA certified it (its
// credit code) and, checked online, the department the seal's key belongs
// to. A signature too broken to name its owner is reported as such.
func foreignSeal(l *Licence, sr *seal.SignatureResult) string {
	o := sr.Organisation
	if !sr.Valid && o.ID == "" && o.CreditCode == "" {
		return ""
	}
	if o.CreditCode == l.IssuerCode && (o.ID == "" || o.ID == l.IssuerID) {
		return ""
	}
	return fmt.Sprintf("seal: %s belongs to %s (%s), not to the issuing department %s (%s)", sr.SealID, o.Name, o.CreditCode, l.IssuerName, l.IssuerCode)
}
