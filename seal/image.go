package seal

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"strings"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Seal image limits.
const (
	MaxImageSize      = 512 << 10 // bytes
	MaxImageDimension = 2048      // pixels, PNG width and height
	maxSVGTokens      = 20000
)

// Image media types.
const (
	MediaPNG = "image/png"
	MediaSVG = "image/svg+xml"
)

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// ValidateImage checks a seal image and returns its media type, sniffed from
// the content (never from a file name): a PNG that decodes and is at most
// MaxImageDimension pixels on a side, or an SVG without scripts, event
// handlers, foreignObject, DTDs or references outside the document. Bad
// images are errs.Invalid; images over MaxImageSize are errs.TooLarge.
func ValidateImage(data []byte) (mediaType string, err error) {
	if len(data) > MaxImageSize {
		return "", errs.TooLarge("seal image is %d bytes; the limit is %d", len(data), MaxImageSize)
	}
	if bytes.HasPrefix(data, pngMagic) {
		return MediaPNG, validatePNG(data)
	}
	if looksLikeXML(data) {
		return MediaSVG, validateSVG(data)
	}
	return "", imageErr("seal image must be a PNG or an SVG")
}

func imageErr(format string, args ...any) error {
	e := errs.Invalid(format, args...)
	e.Fields = []errs.FieldError{{Pointer: "/image", Reason: e.Message}}
	return e
}

func validatePNG(data []byte) error {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return imageErr("seal image is not a valid PNG: %v", err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxImageDimension || cfg.Height > MaxImageDimension {
		return imageErr("seal image is %d×%d pixels; at most %d on a side", cfg.Width, cfg.Height, MaxImageDimension)
	}
	// Decoding the whole image (bounded by the dimension check) proves the
	// pixel data is intact, not only the header.
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		return imageErr("seal image is not a valid PNG: %v", err)
	}
	return nil
}

// looksLikeXML reports whether data starts, after an optional byte order
// mark and white space, with an XML declaration, a comment or an element.
func looksLikeXML(data []byte) bool {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data = bytes.TrimLeft(data, " \t\r\n")
	return bytes.HasPrefix(data, []byte("<?xml")) || bytes.HasPrefix(data, []byte("<!--")) ||
		bytes.HasPrefix(data, []byte("<svg"))
}

const svgNS = "http://www.w3.org/2000/svg"

// Elements that run code, embed other documents or change attributes at
// run time (an <animate>/<set> can turn a harmless href into javascript:).
var svgForbidden = map[string]bool{
	"script": true, "foreignobject": true, "iframe": true, "embed": true, "object": true,
	"audio": true, "video": true, "handler": true, "listener": true, "animate": true,
	"set": true, "animatemotion": true, "animatetransform": true, "animatecolor": true,
	"discard": true,
}

func validateSVG(data []byte) error {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	// Only UTF-8 (the default): no charset readers, so no surprises.
	depth, tokens, roots := 0, 0, 0
	inStyle := false
	for {
		tok, err := d.Token() // Token checks that end tags match
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return imageErr("seal image is not well-formed SVG: %v", err)
		}
		if tokens++; tokens > maxSVGTokens {
			return imageErr("seal image SVG is too complex")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := strings.ToLower(t.Name.Local)
			if depth == 0 {
				if roots++; roots > 1 || name != "svg" {
					return imageErr("seal image must be an SVG document with one <svg> root element")
				}
				if t.Name.Space != svgNS {
					return imageErr(`seal image <svg> must declare xmlns="` + svgNS + `"`)
				}
			}
			if svgForbidden[name] {
				return imageErr("seal image SVG must not contain <%s>", t.Name.Local)
			}
			for _, a := range t.Attr {
				if err := checkSVGAttr(t.Name.Local, a); err != nil {
					return err
				}
			}
			inStyle = name == "style"
			depth++
		case xml.EndElement:
			depth--
			inStyle = false
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return imageErr("seal image has text outside the <svg> element")
			}
			if inStyle {
				if err := checkCSS(string(t)); err != nil {
					return err
				}
			}
		case xml.Directive:
			return imageErr("seal image SVG must not contain a DOCTYPE or entity declarations")
		case xml.ProcInst:
			if t.Target != "xml" {
				return imageErr("seal image SVG must not contain processing instructions (<?%s?>)", t.Target)
			}
		}
	}
	if roots != 1 || depth != 0 {
		return imageErr("seal image must be an SVG document with one <svg> root element")
	}
	return nil
}

func checkSVGAttr(elem string, a xml.Attr) error {
	local := strings.ToLower(a.Name.Local)
	space := strings.ToLower(a.Name.Space)
	val := strings.ToLower(strings.TrimSpace(a.Value))
	switch {
	case strings.HasPrefix(local, "on"):
		return imageErr("seal image SVG must not have event handler attributes (%s on <%s>)", a.Name.Local, elem)
	case local == "base" && (space == "xml" || space == "http://www.w3.org/xml/1998/namespace"):
		return imageErr("seal image SVG must not set xml:base")
	case space == "xmlns" || (space == "" && local == "xmlns"):
		return nil // namespace declarations name, they do not fetch
	case local == "href" || local == "src":
		if !strings.HasPrefix(val, "#") {
			return imageErr("seal image SVG may only reference its own elements (%s=%q on <%s>)", a.Name.Local, a.Value, elem)
		}
	case local == "style":
		return checkCSS(a.Value)
	}
	// Presentation attributes such as fill="url(#g)" may reference only
	// fragments of the same document.
	if strings.Contains(val, "url(") || strings.Contains(val, "javascript:") {
		return checkCSS(a.Value)
	}
	return nil
}

// checkCSS rejects style text that loads anything from outside the image.
func checkCSS(css string) error {
	s := strings.ToLower(css)
	if strings.Contains(s, "@import") || strings.Contains(s, "javascript:") || strings.Contains(s, "expression(") {
		return imageErr("seal image SVG style must not import or run anything")
	}
	for i := 0; ; {
		j := strings.Index(s[i:], "url(")
		if j < 0 {
			return nil
		}
		rest := strings.TrimLeft(s[i+j+4:], " \t\r\n'\"")
		if !strings.HasPrefix(rest, "#") {
			return imageErr("seal image SVG may only reference its own elements in url()")
		}
		i += j + 4
	}
}
