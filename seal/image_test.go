package seal

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

func pngOf(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, x%h, color.NRGBA{R: 0xd0, A: 0xff})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestValidateImage(t *testing.T) {
	svg := func(body string) []byte {
		return []byte(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10">` + body + `</svg>`)
	}
	good := map[string]struct {
		data []byte
		mt   string
	}{
		"png":               {pngOf(200, 200), MediaPNG},
		"demo svg":          {DemoImage("襄阳市人民政府"), MediaSVG},
		"svg with decl":     {append([]byte("\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- seal -->\n"), svg(`<circle r="4"/>`)...), MediaSVG},
		"internal refs":     {svg(`<defs><linearGradient id="g"/></defs><rect fill="url(#g)" style="fill: url('#g')"/><use href="#g"/><use xlink:href="#g"/>`), MediaSVG},
		"style element":     {svg(`<style>circle { fill: red }</style><circle r="1"/>`), MediaSVG},
		"escaped org names": {DemoImage(`<script>alert("x")</script> & Co`), MediaSVG},
	}
	for name, c := range good {
		mt, err := ValidateImage(c.data)
		if err != nil || mt != c.mt {
			t.Errorf("%s: got %q, %v; want %s", name, mt, err, c.mt)
		}
	}
	bad := map[string][]byte{
		"gif":                 []byte("GIF89a\x01\x00\x01\x00"),
		"jpeg":                {0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F'},
		"html":                []byte("<html><body>hi</body></html>"),
		"truncated png":       pngOf(50, 50)[:60],
		"png too wide":        pngOf(MaxImageDimension+1, 1),
		"script":              svg(`<script>alert(1)</script>`),
		"SCRIPT upper case":   svg(`<SCRIPT>alert(1)</SCRIPT>`),
		"foreignObject":       svg(`<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>`),
		"onload":              []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>`),
		"onclick":             svg(`<rect onClick="alert(1)"/>`),
		"external href":       svg(`<image href="https://evil.example/x.png"/>`),
		"external xlink":      svg(`<use xlink:href="other.svg#a"/>`),
		"javascript href":     svg(`<a href="javascript:alert(1)"><rect/></a>`),
		"data href":           svg(`<image href="data:image/png;base64,AAAA"/>`),
		"external url()":      svg(`<rect fill="url(https://evil.example/#g)"/>`),
		"style import":        svg(`<style>@import url(https://evil.example/x.css);</style>`),
		"style attribute url": svg(`<rect style="fill:url( 'http://x/' )"/>`),
		"animate":             svg(`<a href="#x"><set attributeName="href" to="javascript:alert(1)"/></a>`),
		"doctype entity":      []byte(`<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>`),
		"stylesheet PI":       []byte(`<?xml-stylesheet href="https://evil.example/x.css"?><svg xmlns="http://www.w3.org/2000/svg"/>`),
		"no namespace":        []byte(`<svg viewBox="0 0 1 1"></svg>`),
		"two roots":           []byte(`<svg xmlns="http://www.w3.org/2000/svg"/><svg xmlns="http://www.w3.org/2000/svg"/>`),
		"unclosed":            []byte(`<svg xmlns="http://www.w3.org/2000/svg"><g>`),
		"mismatched":          []byte(`<svg xmlns="http://www.w3.org/2000/svg"><g></a></svg>`),
		"xml:base":            svg(`<g xml:base="https://evil.example/"><use href="#a"/></g>`),
		"empty":               nil,
	}
	for name, data := range bad {
		if _, err := ValidateImage(data); !errs.Is(err, errs.KindInvalid) {
			t.Errorf("%s: got %v, want invalid", name, err)
		}
	}
	big := svg(`<desc>` + strings.Repeat("x", MaxImageSize) + `</desc>`)
	if _, err := ValidateImage(big); !errs.Is(err, errs.KindTooLarge) {
		t.Errorf("oversized: got %v, want too large", err)
	}
}

func TestDemoImage(t *testing.T) {
	for _, name := range []string{"襄阳市数据局", "", "襄阳市住房和城市更新局襄阳市住房和城市更新局"} {
		img := DemoImage(name)
		if mt, err := ValidateImage(img); err != nil || mt != MediaSVG {
			t.Fatalf("DemoImage(%q) does not validate: %v", name, err)
		}
		if !bytes.Contains(img, []byte(name)) || !bytes.Contains(img, []byte("<polygon")) || !bytes.Contains(img, []byte("<circle")) {
			t.Fatalf("DemoImage(%q) lacks the name, star or ring:\n%s", name, img)
		}
	}
}
