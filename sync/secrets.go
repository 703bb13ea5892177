package datasync

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Secrets encrypts a job's upstream credentials (bearer token or HMAC
// secret, an http URL with a password, PostgreSQL DSN, S3 store spec) at
// rest; *keys.MasterKey implements it.
type Secrets interface {
	Seal(plaintext []byte, label string) []byte
	Open(ciphertext []byte, label string) ([]byte, error)
}

const sealedPrefix = "sealed:"

// specJSON is the stored form of a job's spec: secrets sealed when the
// Service has Secrets (labelled with the job id, so they do not open in
// another row).
func (s *Service) specJSON(jobID string, spec Spec) string {
	if s.secrets != nil {
		seal := func(v *string, field string) {
			if *v != "" {
				*v = sealedPrefix + base64.StdEncoding.EncodeToString(s.secrets.Seal([]byte(*v), "sync-job:"+jobID+":"+field))
			}
		}
		if redactURL(spec.Source.URL) != spec.Source.URL {
			seal(&spec.Source.URL, "url") // a basic auth password
		}
		seal(&spec.Source.Token, "token")
		seal(&spec.Source.DSN, "dsn")
		seal(&spec.Source.Blobs, "blobs") // may carry an S3 secret key
	}
	b, _ := json.Marshal(spec)
	return string(b)
}

// openSpec reverses specJSON.
func (s *Service) openSpec(jobID string, spec *Spec) error {
	open := func(v *string, field string) error {
		rest, ok := strings.CutPrefix(*v, sealedPrefix)
		if !ok {
			return nil
		}
		if s.secrets == nil {
			return errs.Unavailable(nil, "job %s: its %s is encrypted and this process has no master key", jobID, field)
		}
		ct, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return errs.Internal(err, "job %s: stored %s", jobID, field)
		}
		pt, err := s.secrets.Open(ct, "sync-job:"+jobID+":"+field)
		if err != nil {
			return errs.Internal(err, "job %s: stored %s", jobID, field)
		}
		*v = string(pt)
		return nil
	}
	if err := open(&spec.Source.URL, "url"); err != nil {
		return err
	}
	if err := open(&spec.Source.Token, "token"); err != nil {
		return err
	}
	if err := open(&spec.Source.DSN, "dsn"); err != nil {
		return err
	}
	return open(&spec.Source.Blobs, "blobs")
}
