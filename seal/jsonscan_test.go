package seal

import (
	"encoding/binary"
	"encoding/json"
	"testing"
)

func TestSpecial8(t *testing.T) {
	for p := 0; p < 8; p++ {
		for c := 0; c < 256; c++ {
			var b [8]byte
			for i := range b {
				b[i] = 'A'
			}
			b[p] = byte(c)
			want := c == '"' || c == '\\' || c < 0x20
			if got := special8(binary.LittleEndian.Uint64(b[:])); got != want {
				t.Fatalf("byte %#x at %d: got %v, want %v", c, p, got, want)
			}
		}
	}
}

// The reader agrees with encoding/json on strings and on what is JSON.
func TestJSONReaderStrings(t *testing.T) {
	for _, in := range []string{
		`"plain"`, `"a longer plain string past eight bytes"`, `"esc \" quote"`, `"\u00e9\ud83d\ude00 tail"`,
		`"中文字符串超过八个字节"`, `"ctl` + "\x01" + `"`, `"unterminated`, `"bad \x escape"`, `"\"`, `""`,
		`"0123456\"`, `"01234567\\"`,
	} {
		r := jsonReader{data: []byte(in)}
		got, err := r.str()
		if err == nil {
			err = r.end()
		}
		var want string
		werr := json.Unmarshal([]byte(in), &want)
		if (err == nil) != (werr == nil && json.Valid([]byte(in))) {
			t.Errorf("%q: reader err %v, encoding/json err %v", in, err, werr)
			continue
		}
		if err == nil && string(got) != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// Unlike encoding/json, which replaces them, the reader refuses invalid
// UTF-8 (RFC 8259 §8.1).
func TestJSONReaderRejectsInvalidUTF8(t *testing.T) {
	r := jsonReader{data: []byte("\"\xff\xfe\"")}
	if _, err := r.str(); err == nil {
		t.Fatal("accepted invalid UTF-8")
	}
}
