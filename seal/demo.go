package seal

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"unicode/utf8"
)

// DemoImage draws a seal picture for demo data: a red ring with the
// organisation's name along its upper arc and a five-pointed star in the
// middle, as an SVG that ValidateImage accepts.
func DemoImage(orgName string) []byte {
	const (
		size   = 240.0
		c      = size / 2
		ring   = 112.0 // ring radius
		text   = 84.0  // radius of the text baseline
		outer  = 34.0  // star
		inner  = outer * 0.382
		arcDeg = 250.0 // the text arc, centred on the top
	)
	n := utf8.RuneCountInString(orgName)
	if n == 0 {
		n = 1
	}
	arcLen := arcDeg / 360 * 2 * math.Pi * text
	font := math.Min(28, arcLen/float64(n)*0.92)

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="%s" width="%g" height="%g" viewBox="0 0 %g %g">`, svgNS, size, size, size, size)
	// The baseline arc runs clockwise from the lower left over the top to
	// the lower right (SVG's y axis points down).
	start := (90 + arcDeg/2) * math.Pi / 180
	end := (90 - arcDeg/2) * math.Pi / 180
	fmt.Fprintf(&b, `<defs><path id="arc" d="M %.2f %.2f A %g %g 0 1 1 %.2f %.2f"/></defs>`,
		c+text*math.Cos(start), c-text*math.Sin(start), text, text, c+text*math.Cos(end), c-text*math.Sin(end))
	fmt.Fprintf(&b, `<circle cx="%g" cy="%g" r="%g" fill="none" stroke="#d0021b" stroke-width="7"/>`, c, c, ring)
	fmt.Fprintf(&b, `<text fill="#d0021b" font-family="SimSun, Songti SC, serif" font-weight="bold" font-size="%.1f">`, font)
	b.WriteString(`<textPath href="#arc" startOffset="50%" text-anchor="middle">`)
	_ = xml.EscapeText(&b, []byte(orgName))
	b.WriteString(`</textPath></text>`)
	b.WriteString(`<polygon fill="#d0021b" points="`)
	for i := 0; i < 10; i++ {
		r := outer
		if i%2 == 1 {
			r = inner
		}
		a := (90 - float64(i)*36) * math.Pi / 180
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.2f,%.2f", c+r*math.Cos(a), c-r*math.Sin(a))
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes()
}
