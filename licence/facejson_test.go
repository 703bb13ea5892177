package licence

import (
	"encoding/json"
	"maps"
	"testing"
)

// FuzzParseFace checks the hand-written path against encoding/json: where
// it accepts an input, encoding/json must accept it with the same result.
func FuzzParseFace(f *testing.F) {
	for _, s := range []string{
		`{"gender":"男","ethnicity":"汉"}`, `{}`, ` { "a" : "b" } `, `{"a":"b",}`, `{"a":"b"} x`,
		`{"a":"\u7537"}`, `{"a":1}`, `null`, `{"a":"b","a":"c"}`, "{\"a\":\"\xff\"}", `{"a":"b"`, `[]`, `{"a" "b"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := parseFlatObject(s)
		var ref map[string]string
		err := json.Unmarshal([]byte(s), &ref)
		if ok && (err != nil || !maps.Equal(fast, ref) || ref == nil) {
			t.Fatalf("%q: fast path %v, encoding/json %v (%v)", s, fast, ref, err)
		}
		got, gerr := parseFace(s)
		if (gerr == nil) != (err == nil) || !maps.Equal(got, ref) {
			t.Fatalf("%q: parseFace %v (%v), encoding/json %v (%v)", s, got, gerr, ref, err)
		}
	})
}

func TestParseFaceFastPath(t *testing.T) {
	for s, want := range map[string]bool{
		`{"gender":"男","address":"湖北省襄阳市"}`: true, `{}`: true, ` {"a":"b"} `: true,
		`{"a":"\n"}`: false, `{"a":1}`: false, `{"a":"b","a":"c"}`: false, `{"a":"b",}`: false, `null`: false,
	} {
		if _, ok := parseFlatObject(s); ok != want {
			t.Errorf("parseFlatObject(%q) ok = %v, want %v", s, ok, want)
		}
	}
}
