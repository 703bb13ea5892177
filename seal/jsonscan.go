package seal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// A small, strict JSON reader for the verification hot path. encoding/json
// spends most of a verification's budget scanning the long base64 strings
// of a JWS byte by byte twice; this reader walks an object once, hands out
// strings without escapes as sub-slices of the input and skips values it is
// not asked about. Strings with escapes are decoded by encoding/json, so
// their meaning is exactly the standard library's. FuzzVerify exercises it.

var errJSON = errors.New("malformed JSON")

const maxJSONDepth = 32

type jsonReader struct {
	data []byte
	pos  int
}

func (r *jsonReader) ws() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

func (r *jsonReader) peek() byte {
	r.ws()
	if r.pos < len(r.data) {
		return r.data[r.pos]
	}
	return 0
}

func (r *jsonReader) consume(c byte) bool {
	if r.peek() == c {
		r.pos++
		return true
	}
	return false
}

// end checks that nothing but white space follows.
func (r *jsonReader) end() error {
	r.ws()
	if r.pos != len(r.data) {
		return errJSON
	}
	return nil
}

// object calls member for each key; member must read the value (with one
// of the read methods or skip).
func (r *jsonReader) object(member func(key []byte) error) error {
	if !r.consume('{') {
		return errJSON
	}
	if r.consume('}') {
		return nil
	}
	for {
		r.ws()
		key, err := r.str()
		if err != nil {
			return err
		}
		if !r.consume(':') {
			return errJSON
		}
		r.ws()
		if err := member(key); err != nil {
			return err
		}
		if r.consume(',') {
			continue
		}
		if r.consume('}') {
			return nil
		}
		return errJSON
	}
}

// array calls elem for each element; elem must read the value.
func (r *jsonReader) array(elem func() error) error {
	if !r.consume('[') {
		return errJSON
	}
	if r.consume(']') {
		return nil
	}
	for {
		r.ws()
		if err := elem(); err != nil {
			return err
		}
		if r.consume(',') {
			continue
		}
		if r.consume(']') {
			return nil
		}
		return errJSON
	}
}

// str reads a string. Without escapes the result aliases the input.
func (r *jsonReader) str() ([]byte, error) {
	if r.pos >= len(r.data) || r.data[r.pos] != '"' {
		return nil, errJSON
	}
	start := r.pos + 1
	escaped := false
	i := start
	// Skip plain bytes eight at a time; x5c certificates are long.
	for i+8 <= len(r.data) && !special8(binary.LittleEndian.Uint64(r.data[i:])) {
		i += 8
	}
	for ; i < len(r.data); i++ {
		c := r.data[i]
		if c == '"' {
			break
		}
		if c < 0x20 {
			return nil, errJSON
		}
		if c == '\\' {
			escaped = true
			i++ // skip the escaped character; encoding/json checks the escape
		}
	}
	if i >= len(r.data) {
		return nil, errJSON
	}
	r.pos = i + 1
	if !escaped {
		s := r.data[start:i]
		if !utf8.Valid(s) {
			return nil, errJSON
		}
		return s, nil
	}
	var s string
	if err := json.Unmarshal(r.data[start-1:i+1], &s); err != nil {
		return nil, errJSON
	}
	return []byte(s), nil
}

// special8 reports whether any of the eight bytes in v is '"', '\\' or a
// control character (below 0x20), with the classic zero-byte bit tricks.
func special8(v uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := v ^ (ones * '"')
	b := v ^ (ones * '\\')
	return ((q-ones)&^q|(b-ones)&^b|(v-ones*0x20)&^v)&highs != 0
}

// stringValue reads a string and copies it.
func (r *jsonReader) stringValue() (string, error) {
	b, err := r.str()
	return string(b), err
}

// int64Value reads an integer (no fraction or exponent).
func (r *jsonReader) int64Value() (int64, error) {
	start := r.pos
	if err := r.number(); err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(r.data[start:r.pos]), 10, 64)
	if err != nil {
		return 0, errJSON
	}
	return n, nil
}

// number reads a JSON number (RFC 8259 §6 grammar).
func (r *jsonReader) number() error {
	d := r.data
	i := r.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return errJSON
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return errJSON
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == j {
			return errJSON
		}
	}
	r.pos = i
	return nil
}

// skip reads and discards any value.
func (r *jsonReader) skip(depth int) error {
	if depth > maxJSONDepth {
		return errJSON
	}
	switch c := r.peek(); {
	case c == '"':
		_, err := r.str()
		return err
	case c == '{':
		return r.object(func([]byte) error { return r.skip(depth + 1) })
	case c == '[':
		return r.array(func() error { return r.skip(depth + 1) })
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return r.number()
	}
	return errJSON
}

func (r *jsonReader) literal(lit string) error {
	if len(r.data)-r.pos < len(lit) || string(r.data[r.pos:r.pos+len(lit)]) != lit {
		return errJSON
	}
	r.pos += len(lit)
	return nil
}

// raw reads any value and returns its bytes.
func (r *jsonReader) raw() ([]byte, error) {
	r.ws()
	start := r.pos
	if err := r.skip(0); err != nil {
		return nil, err
	}
	return r.data[start:r.pos], nil
}

// appendJSONString appends s as a JSON string. Besides what JSON requires
// it escapes <, >, & and U+2028/U+2029, as encoding/json does, so a
// statement is safe to embed in HTML and JavaScript.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
