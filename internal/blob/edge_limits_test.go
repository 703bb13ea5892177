package blob_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/blob/blobtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// TestEdgeMaxSizeLargest: MaxSize = math.MaxInt64 ("no practical limit",
// e.g. --max-upload 9223372036854775807) must store the content, not
// overflow the read limit and silently store an empty object.
func TestEdgeMaxSizeLargest(t *testing.T) {
	for _, b := range blobtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s, _ := b.New(t, blob.Options{MaxSize: math.MaxInt64})
			data := "licence scan"
			info, err := s.Put(context.Background(), strings.NewReader(data), "text/plain")
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if info.Key != sha(data) || info.Size != int64(len(data)) {
				t.Errorf("Put = %+v, want key %s size %d", info, sha(data), len(data))
			}
		})
	}
}

// TestEdgeSpecFragmentSecret: a '#' in an s3 spec must not echo what
// follows it (often the rest of the secret key) in the error message.
func TestEdgeSpecFragmentSecret(t *testing.T) {
	for _, spec := range []string{
		"s3://bucket?endpoint=h:1&access_key=AK&secret_key=TOP#SECRET",
		"s3://bucket#x?endpoint=h:1&secret_key=TOPSECRET",
	} {
		err := blob.CheckSpec(spec)
		if !errs.Is(err, errs.KindInvalid) || !strings.Contains(err.Error(), "%23") {
			t.Errorf("CheckSpec(%q) = %v, want invalid about '#'", blob.RedactSpec(spec), err)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("CheckSpec error leaks the secret: %v", err)
		}
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// A secret key with an unescaped '&' splits into a "parameter" made of
// its tail: the error says what to do without repeating it.
func TestSpecAmpersandInSecret(t *testing.T) {
	err := blob.CheckSpec("s3://bucket?endpoint=h:1&access_key=AK&secret_key=TOP&SECRETTAIL")
	if !errs.Is(err, errs.KindInvalid) || !strings.Contains(err.Error(), "%26") || strings.Contains(err.Error(), "SECRETTAIL") {
		t.Fatalf("err = %v", err)
	}
	// An ordinary typo is still named.
	if err := blob.CheckSpec("s3://bucket?endpoint=h:1&acess_key=AK"); err == nil || !strings.Contains(err.Error(), `"acess_key"`) {
		t.Fatalf("typo: %v", err)
	}
}
