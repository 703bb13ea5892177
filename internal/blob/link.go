package blob

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// LinkPath is the path prefix of local download links: LinkPath + KEY.
const LinkPath = "/v1/blobs/"

// linkSig is HMAC-SHA256 over a domain tag, the key, the expiry and the
// file name. The key has a fixed length and the expiry no newline, so the
// fields cannot be shifted into one another.
func linkSig(secret []byte, key string, exp int64, name string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("sharehub-blob-link-v1\n"))
	m.Write([]byte(key))
	m.Write([]byte("\n"))
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	m.Write([]byte("\n"))
	m.Write([]byte(name))
	return m.Sum(nil)
}

// localLink builds BASE/v1/blobs/KEY?exp=UNIX&name=NAME&sig=HEX.
func localLink(base string, secret []byte, key string, exp int64, name string) string {
	q := url.Values{}
	q.Set("exp", strconv.FormatInt(exp, 10))
	if name != "" {
		q.Set("name", name)
	}
	q.Set("sig", hex.EncodeToString(linkSig(secret, key, exp, name)))
	return strings.TrimRight(base, "/") + LinkPath + key + "?" + q.Encode()
}

// linkExpiry is now+ttl rounded up to a whole second.
func linkExpiry(now time.Time, ttl time.Duration) int64 {
	t := now.Add(ttl)
	exp := t.Unix()
	if t.After(time.Unix(exp, 0)) {
		exp++
	}
	return exp
}

// VerifyLink checks a local download link's parameters: the key from the
// path, exp, name and sig from the query. It returns errs.Invalid for a
// malformed key and errs.Forbidden when the signature does not match
// (including an empty secret) or now is after exp. The handler that serves
// the link then calls Store.Get and sets Content-Disposition to
// ContentDisposition(name).
func VerifyLink(secret []byte, key string, exp int64, name, sig string, now time.Time) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(secret) == 0 {
		return errs.Forbidden("download links are not enabled")
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size || !hmac.Equal(got, linkSig(secret, key, exp, name)) {
		return errs.Forbidden("download link is not valid")
	}
	if expAt := time.Unix(exp, 0); now.After(expAt) {
		return errs.Forbidden("download link expired at %s", expAt.UTC().Format(time.RFC3339))
	}
	return nil
}
