package licence

import (
	"encoding/json"
	"unicode/utf8"
)

// parseFace decodes a face-fields cell: a JSON object whose values are
// strings. The common case — no escapes, valid UTF-8 — is read by hand
// (encoding/json through reflection was 40% of checking an import row);
// anything else goes to encoding/json, which decides and words errors.
func parseFace(v string) (map[string]string, error) {
	if m, ok := parseFlatObject(v); ok {
		return m, nil
	}
	var m map[string]string
	err := json.Unmarshal([]byte(v), &m)
	return m, err
}

// parseFlatObject reads {"k":"v", ...} with optional JSON whitespace,
// strings without backslashes or control characters, valid UTF-8, and
// returns ok=false for anything else (including null and duplicate keys,
// left to encoding/json so that both paths agree on every input).
func parseFlatObject(s string) (map[string]string, bool) {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return nil, false
	}
	m := map[string]string{}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return m, skipSpace(s, i+1) == len(s)
	}
	for {
		k, j, ok := plainString(s, i)
		if !ok {
			return nil, false
		}
		i = skipSpace(s, j)
		if i >= len(s) || s[i] != ':' {
			return nil, false
		}
		val, j, ok := plainString(s, skipSpace(s, i+1))
		if !ok {
			return nil, false
		}
		if _, dup := m[k]; dup {
			return nil, false
		}
		m[k] = val
		i = skipSpace(s, j)
		if i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case ',':
			i = skipSpace(s, i+1)
		case '}':
			return m, skipSpace(s, i+1) == len(s)
		default:
			return nil, false
		}
	}
}

// plainString reads a JSON string at s[i] that has no escapes, no control
// characters and only valid UTF-8; it returns its value and the index
// after the closing quote.
func plainString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			v := s[i+1 : j]
			return v, j + 1, utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}
