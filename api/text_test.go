package api

import (
	"strings"
	"testing"
)

func TestNulEscape(t *testing.T) {
	for in, want := range map[string]int{
		`{"a":"b"}`:                -1,
		`{"a":"x\u0000"}`:          7,
		`{"a\u0000":1}`:            3,
		`{"a":"\\u0000"}`:          -1, // an escaped backslash, then the text u0000
		`{"a":"\\\u0000"}`:         8,
		`{"a":"\"\u0000"}`:         8,
		`{"a":"\u00001"}`:          6,
		`{"a":"\u0001"}`:           -1,
		`{"a":["u0000","\u0000"]}`: 15,
		`{"a":"\u000"}`:            -1, // not valid JSON; Decode refused it first
	} {
		if got := nulEscape([]byte(in)); got != want {
			t.Errorf("%s: %d, want %d", in, got, want)
		}
		if want >= 0 && !strings.HasPrefix(in[want:], `\u0000`) {
			t.Errorf("%s: the table's offset %d is wrong", in, want)
		}
	}
}

func TestJSONPointerAt(t *testing.T) {
	for in, want := range map[string]string{
		`{"name":"a\u0000"}`:                              "/name",
		`{"a":1,"b":{"c":[true,"x","\u0000y"]}}`:          "/b/c/2",
		`{"a":[{"b":"x"},{"c":"\u0000"}]}`:                "/a/1/c",
		`{"a":[[1,2],["\u0000"]],"z":0}`:                  "/a/1/0",
		`{"a":{},"b":[],"c":{"d":"e"},"f":"\u0000"}`:      "/f",
		`{"k\u0000":1}`:                                   "/k\x00",
		`{"x/y~z":"\u0000"}`:                              "/x~1y~0z",
		`["\u0000"]`:                                      "/0",
		`{"spec":{"source":{"url":"u"},"name":"\u0000"}}`: "/spec/name",
	} {
		at := nulEscape([]byte(in))
		if got := jsonPointerAt([]byte(in), at); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}
