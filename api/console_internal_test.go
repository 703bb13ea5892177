package api

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestConsoleSameOrigin(t *testing.T) {
	s := &Server{cfg: Config{PublicURL: "https://sharehub.xiangyang.example/"}}
	for _, tc := range []struct {
		name    string
		tls     bool
		headers map[string]string
		want    bool
	}{
		{"nothing to go by", false, nil, false},
		{"own origin", false, map[string]string{"Origin": "http://hub.internal:8080"}, true},
		{"public URL origin", false, map[string]string{"Origin": "https://sharehub.xiangyang.example"}, true},
		{"own host over TLS", true, map[string]string{"Origin": "https://hub.internal:8080"}, true},
		{"http origin for a TLS request", true, map[string]string{"Origin": "http://hub.internal:8080"}, false},
		{"other origin", false, map[string]string{"Origin": "http://evil.example"}, false},
		{"other port", false, map[string]string{"Origin": "http://hub.internal:9090"}, false},
		{"Chromium under no-referrer", false, map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, true},
		{"null origin alone", false, map[string]string{"Origin": "null"}, false},
		{"same-site is not enough", false, map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"cross-site", false, map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"user-typed", false, map[string]string{"Sec-Fetch-Site": "none"}, false},
		{"fetch metadata and a foreign origin disagree", false, map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"}, false},
		{"own referer", false, map[string]string{"Referer": "http://hub.internal:8080/console/"}, true},
		{"foreign referer", false, map[string]string{"Referer": "http://evil.example/console/"}, false},
		{"referer lookalike", false, map[string]string{"Referer": "http://hub.internal:8080.evil.example/"}, false},
		{"junk referer", false, map[string]string{"Referer": "::"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://hub.internal:8080/console/logout", nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if got := s.consoleSameOrigin(r); got != tc.want {
				t.Errorf("consoleSameOrigin = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConsoleSecure(t *testing.T) {
	plain := httptest.NewRequest("GET", "http://hub.internal/console/login", nil)
	overTLS := httptest.NewRequest("GET", "https://hub.internal/console/login", nil)
	overTLS.TLS = &tls.ConnectionState{}
	for _, tc := range []struct {
		public string
		tls    bool
		want   bool
	}{
		{"", false, false}, {"http://127.0.0.1:8080", false, false}, {"", true, true}, {"HTTPS://sharehub.example", false, true},
	} {
		r := plain
		if tc.tls {
			r = overTLS
		}
		s := &Server{cfg: Config{PublicURL: tc.public}}
		if got := s.consoleSecure(r); got != tc.want {
			t.Errorf("public URL %q, TLS %v: Secure = %v, want %v", tc.public, tc.tls, got, tc.want)
		}
	}
}

func TestConsoleSafeMarked(t *testing.T) {
	for in, want := range map[string]string{
		"户籍<mark>登记</mark>":          "户籍<mark>登记</mark>",
		"a &lt;b&gt; <mark>c</mark>": "a &lt;b&gt; <mark>c</mark>",
		"<script>alert(1)</script>":  "&lt;script&gt;alert(1)&lt;/script&gt;",
		`<mark onclick="x">a</mark>`: "&lt;mark onclick=&#34;x&#34;&gt;a&lt;/mark&gt;",
	} {
		if got := string(safeMarked(in)); got != want {
			t.Errorf("safeMarked(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSignInBucket(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                  "192.0.2.7",
		"2001:db8:1:2:aaaa:bbbb:c:d": "2001:db8:1:2::/64",
		"2001:db8:1:2::1":            "2001:db8:1:2::/64",
		"::ffff:192.0.2.7":           "::ffff:192.0.2.7",
		"not an address":             "not an address",
	} {
		if got := signInBucket(in); got != want {
			t.Errorf("signInBucket(%q) = %q, want %q", in, got, want)
		}
	}
}
