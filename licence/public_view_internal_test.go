package licence

import (
	"strings"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// TestPublicIdentifierHidesHashedHolderID: a licence number that holds the
// holder's 公民身份号码 but is not made of 0-9 and A-Z only ("No.4206…",
// "鄂4206…") gets a serial hashed from the number. The public page masks
// the birth date in the number and the holder id, but the hash would give
// it back: anyone can hash "No." + every possible birth date (some 45,000)
// until one gives the serial. The public identifier must not let a guess
// of the masked digits be confirmed.
func TestPublicIdentifierHidesHashedHolderID(t *testing.T) {
	const typeCode, issuerCode = "11420600000000027M001", "11420600000000027M"
	holder := ident.NewResidentID("420602", time.Date(1987, 6, 15, 0, 0, 0, 0, time.UTC), 41, false)
	for _, number := range []string{"No." + holder, "鄂" + holder, "no." + strings.ToLower(holder)} {
		id, err := newIDFor(typeCode, issuerCode, number)
		if err != nil {
			t.Fatal(err)
		}
		l := &Licence{ID: id, TypeCode: typeCode, TypeName: "居民身份证", Number: number, IssuerCode: issuerCode,
			Holder: Holder{Name: "张三丰", IDType: HolderIDResident, ID: holder}, Status: StatusValid, Version: 1}
		pv := publicView(l, StatusValid)
		if strings.Contains(pv.ID, holder) || strings.Contains(strings.ToUpper(pv.Number), holder) {
			t.Fatalf("%s: the public view shows the holder id: %+v", number, pv)
		}
		masked := pv.HolderID
		if len(masked) != 18 || masked[6:14] != "********" {
			t.Fatalf("holder id shown as %q", masked)
		}
		// What anyone who scanned the code can do: try every birth date.
		parts := strings.Split(pv.ID, ".")
		shownSerial := parts[len(parts)-3]
		for d := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); d.Before(time.Now()); d = d.AddDate(0, 0, 1) {
			guess := masked[:6] + d.Format("20060102") + masked[14:]
			if ident.ValidateResidentID(guess) != nil {
				continue
			}
			for _, g := range []string{guess, strings.ToLower(guess)} {
				if serialOf(typeCode, maskIn(pv.Number, masked, g)) == shownSerial {
					t.Fatalf("number %q: the public identifier %s gives the masked birth date back (%s → %s)", number, pv.ID, masked, g)
				}
			}
		}
	}
}
