package seal

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// The JWS profile (ARCHITECTURE.md §7). A sealed document is a JWS in the
// general JSON serialization (RFC 7515 §7.2.1):
//
//	{"payload": BASE64URL(statement),
//	 "signatures": [{"protected": BASE64URL(header), "header": {"x5c": [SEAL CERT, CA CERT]}, "signature": ...}, ...]}
//
// The payload is the document statement: what was sealed, not who sealed
// it, {"sha256": HEX, "size": N, "media_type": ..., "name": ...}. All
// signatures of a JWS share one payload, so facts that differ per seal
// cannot be in it: they are in each signature's protected header, which
// its signature covers as much as the payload:
//
//	alg       EdDSA or ES256
//	typ       sharehub-seal+jws
//	kid       the seal key's RFC 7638 thumbprint
//	x5t#S256  SHA-256 of the seal certificate (base64url)
//	seal      the seal id
//	org       the organisation's 统一社会信用代码
//	sigT      signing time, RFC 3339 UTC with microseconds
//	purpose   why the seal was applied
//
// No header is critical ("crit" is rejected), so any JOSE library verifies
// the signatures. The certificate chain (x5c) travels in the unprotected
// header: x5t#S256 in the protected header binds the certificate, so a
// swapped x5c is detected, and keeping a kilobyte of certificates out of
// the signing input keeps signing and verification close to the raw speed
// of the signature algorithm (BENCHMARKS.md). A verifier may also find x5c
// in the protected header.

// Typ is the JWS "typ" of sealed documents.
const Typ = "sharehub-seal+jws"

// Limits on what Verify reads.
const (
	MaxJWSSize    = 1 << 20 // bytes of JWS JSON
	MaxSignatures = 64      // seals on one document
	maxX5C        = 2       // seal certificate and the CA
)

// sigTLayout is RFC 3339 in UTC with a fixed six-digit fraction.
const sigTLayout = "2006-01-02T15:04:05.000000Z07:00"

// maxClockSkew is how far a signing time may lie outside the times the
// hub knows (key creation, now) before it is called implausible.
const maxClockSkew = 2 * time.Minute

// Document describes a sealed document. It is the JWS payload (the
// statement): the document's SHA-256, size, media type and name.
type Document struct {
	SHA256    string `json:"sha256"` // lowercase hex
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
	Name      string `json:"name"`
}

// DigestDocument reads a document and describes it.
func DigestDocument(r io.Reader, name, mediaType string) (Document, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Document{}, fmt.Errorf("reading document: %w", err)
	}
	d := Document{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, MediaType: mediaType, Name: name}
	return d, d.validate("/document", checkText)
}

// validate normalises and checks d; pointer prefixes field pointers.
func (d *Document) validate(pointer string, checkText func(s string, max int, required bool) string) error {
	d.SHA256 = strings.ToLower(strings.TrimSpace(d.SHA256))
	d.MediaType = strings.TrimSpace(d.MediaType)
	d.Name = strings.TrimSpace(d.Name)
	var fe []errs.FieldError
	if !isHexDigest(d.SHA256) {
		fe = append(fe, errs.FieldError{Pointer: pointer + "/sha256", Reason: "64 hexadecimal digits (SHA-256)"})
	}
	if d.Size < 0 || d.Size > 1<<53 {
		fe = append(fe, errs.FieldError{Pointer: pointer + "/size", Reason: "a byte count", Value: strconv.FormatInt(d.Size, 10)})
	}
	if d.MediaType == "" {
		d.MediaType = "application/octet-stream"
	}
	if !validMediaType(d.MediaType) {
		fe = append(fe, errs.FieldError{Pointer: pointer + "/media_type", Reason: "a media type such as application/pdf", Value: d.MediaType})
	}
	if r := checkText(d.Name, MaxDocumentName, true); r != "" {
		fe = append(fe, errs.FieldError{Pointer: pointer + "/name", Reason: r})
	}
	if len(fe) > 0 {
		return errs.InvalidFields("document is not valid", fe...)
	}
	return nil
}

// isHexDigest reports whether s is a SHA-256 in lowercase hex.
func isHexDigest(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// validMediaType checks a media type without allocating in the common
// case of type/subtype without parameters (RFC 6838 §4.2 characters).
func validMediaType(mt string) bool {
	if len(mt) > MaxMediaType {
		return false
	}
	slash := strings.IndexByte(mt, '/')
	if slash <= 0 || slash == len(mt)-1 || strings.ContainsAny(mt, ";\"\\") {
		base, _, err := mime.ParseMediaType(mt)
		i := strings.IndexByte(base, '/')
		return err == nil && i > 0 && i < len(base)-1 && strings.Count(base, "/") == 1
	}
	for i := 0; i < len(mt); i++ {
		c := mt[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&-^_.+", c) >= 0 || i == slash
		if !ok {
			return false
		}
	}
	return true
}

func appendStatement(b []byte, d *Document) []byte {
	b = append(b, `{"sha256":"`...)
	b = append(b, d.SHA256...)
	b = append(b, `","size":`...)
	b = strconv.AppendInt(b, d.Size, 10)
	b = append(b, `,"media_type":`...)
	b = appendJSONString(b, d.MediaType)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, d.Name)
	return append(b, '}')
}

func parseStatement(payload []byte) (Document, error) {
	var d Document
	var seen uint8
	r := jsonReader{data: payload}
	err := r.object(func(key []byte) error {
		var bit uint8
		var err error
		switch string(key) {
		case "sha256":
			bit = 1
			d.SHA256, err = r.stringValue()
		case "size":
			bit = 2
			d.Size, err = r.int64Value()
		case "media_type":
			bit = 4
			d.MediaType, err = r.stringValue()
		case "name":
			bit = 8
			d.Name, err = r.stringValue()
		default:
			return r.skip(1)
		}
		if seen&bit != 0 {
			return fmt.Errorf("duplicate member %q", key)
		}
		seen |= bit
		return err
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return d, err
	}
	if seen != 15 {
		return d, errors.New("statement needs sha256, size, media_type and name")
	}
	return d, d.validate("/payload", checkSignedText)
}

// jwsDoc is a parsed JWS JSON serialization; slices alias the input.
type jwsDoc struct {
	payloadB64 []byte
	sigs       []jwsSig
}

type jwsSig struct {
	protectedB64 []byte
	header       []byte // unprotected header object, nil when absent
	signatureB64 []byte
}

// parseJWS reads the general or flattened JWS JSON serialization.
func parseJWS(data []byte) (*jwsDoc, error) {
	j := &jwsDoc{}
	var flat jwsSig
	var havePayload, haveSigs, haveFlat bool
	r := jsonReader{data: data}
	readSig := func(s *jwsSig, key []byte) (bool, error) {
		var err error
		switch string(key) {
		case "protected":
			if s.protectedB64 != nil {
				return true, errors.New("duplicate protected")
			}
			s.protectedB64, err = r.str()
		case "header":
			if s.header != nil {
				return true, errors.New("duplicate header")
			}
			if r.peek() != '{' {
				return true, errors.New("header must be an object")
			}
			s.header, err = r.raw()
		case "signature":
			if s.signatureB64 != nil {
				return true, errors.New("duplicate signature")
			}
			s.signatureB64, err = r.str()
		default:
			return false, nil
		}
		return true, err
	}
	err := r.object(func(key []byte) error {
		switch string(key) {
		case "payload":
			if havePayload {
				return errors.New("duplicate payload")
			}
			havePayload = true
			var err error
			j.payloadB64, err = r.str()
			return err
		case "signatures":
			if haveSigs {
				return errors.New("duplicate signatures")
			}
			haveSigs = true
			return r.array(func() error {
				if len(j.sigs) >= MaxSignatures {
					return fmt.Errorf("more than %d signatures", MaxSignatures)
				}
				var s jwsSig
				err := r.object(func(key []byte) error {
					ok, err := readSig(&s, key)
					if !ok && err == nil {
						return r.skip(1)
					}
					return err
				})
				j.sigs = append(j.sigs, s)
				return err
			})
		}
		ok, err := readSig(&flat, key)
		if ok {
			haveFlat = true
			return err
		}
		return r.skip(1)
	})
	if err == nil {
		err = r.end()
	}
	switch {
	case err != nil:
		if errors.Is(err, errJSON) {
			return nil, errors.New("not a JWS in JSON serialization")
		}
		return nil, err
	case !havePayload:
		return nil, errors.New("no payload (detached payloads are not supported)")
	case haveSigs && haveFlat:
		return nil, errors.New("both signatures and a flattened signature")
	case haveFlat:
		j.sigs = []jwsSig{flat}
	case len(j.sigs) == 0:
		return nil, errors.New("no signatures")
	}
	for i, s := range j.sigs {
		if s.protectedB64 == nil || s.signatureB64 == nil {
			return nil, fmt.Errorf("signature %d needs protected and signature members", i)
		}
	}
	return j, nil
}

// appendSigEntry appends one element of the signatures array.
func appendSigEntry(b []byte, s *jwsSig) []byte {
	b = append(b, `{"protected":"`...)
	b = append(b, s.protectedB64...)
	if s.header != nil {
		b = append(b, `","header":`...)
		b = append(b, s.header...)
		b = append(b, `,"signature":"`...)
	} else {
		b = append(b, `","signature":"`...)
	}
	b = append(b, s.signatureB64...)
	return append(b, `"}`...)
}

// header is a signature's JOSE header, protected and unprotected merged.
type header struct {
	alg, typ, kid, x5t, seal, org, purpose, sigT string
	x5c                                          [][]byte // standard base64 DER, aliasing the input
	seen                                         uint16
}

const (
	hAlg uint16 = 1 << iota
	hTyp
	hKid
	hX5t
	hSeal
	hOrg
	hPurpose
	hSigT
	hX5c
)

// parse reads one header object. Members the profile relies on must be
// protected; x5c may be in either; a member may not be in both (RFC 7515
// §7.2.1). crit, b64 and key-carrying members are refused.
func (h *header) parse(data []byte, protected bool) error {
	r := jsonReader{data: data}
	err := r.object(func(key []byte) error {
		var dst *string
		var bit uint16
		switch string(key) {
		case "alg":
			dst, bit = &h.alg, hAlg
		case "typ":
			dst, bit = &h.typ, hTyp
		case "kid":
			dst, bit = &h.kid, hKid
		case "x5t#S256":
			dst, bit = &h.x5t, hX5t
		case "seal":
			dst, bit = &h.seal, hSeal
		case "org":
			dst, bit = &h.org, hOrg
		case "purpose":
			dst, bit = &h.purpose, hPurpose
		case "sigT":
			dst, bit = &h.sigT, hSigT
		case "x5c":
			bit = hX5c
		case "crit", "b64":
			return fmt.Errorf("header %q is not supported", key)
		case "jwk", "jku", "x5u":
			return fmt.Errorf("header %q is not allowed: keys come from the certificate", key)
		default:
			return r.skip(1)
		}
		if h.seen&bit != 0 {
			return fmt.Errorf("header %q appears twice", key)
		}
		h.seen |= bit
		if bit == hX5c {
			return r.array(func() error {
				if len(h.x5c) >= maxX5C {
					return fmt.Errorf("x5c has more than %d certificates", maxX5C)
				}
				c, err := r.str()
				h.x5c = append(h.x5c, c)
				return err
			})
		}
		if !protected {
			return fmt.Errorf("header %q must be in the protected header", key)
		}
		v, err := r.str()
		*dst = string(v)
		return err
	})
	if err == nil {
		err = r.end()
	}
	if errors.Is(err, errJSON) {
		return errors.New("header is not a JSON object")
	}
	return err
}

// appendJWS writes a JWS with the given payload and signature entries.
func appendJWS(b []byte, payloadB64 []byte, entries ...[]byte) []byte {
	b = append(b, `{"payload":"`...)
	b = append(b, payloadB64...)
	b = append(b, `","signatures":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, "]}"...)
}
