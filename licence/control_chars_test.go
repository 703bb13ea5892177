package licence_test

import (
	"context"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/licence"
)

// TestControlCharactersRefused: text of a licence (holder name, number,
// face fields, a change's reason, a file name) with a control character
// is refused, also those beyond ASCII: C1 controls (U+0085 NEL, a line
// break to many readers of exported data, turns up when GBK or cp1252
// bytes are misread) and the bidirectional overrides that make a name
// read backwards on the verify page (U+202E).
func TestControlCharactersRefused(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		gaj := issuer("xy-gaj")
		for _, bad := range []string{"\u0085", "\u009b", "\u202e", "\u2066", "\u200f"} {
			for _, c := range []struct {
				name    string
				mod     func(n *licence.NewLicence)
				pointer string
			}{
				{"holder name", func(n *licence.NewLicence) { n.Holder.Name = "张" + bad + "三" }, "/holder/name"},
				{"number", func(n *licence.NewLicence) { n.Number = "XY" + bad + "1" }, "/number"},
				{"face text", func(n *licence.NewLicence) { n.Face["address"] = "襄阳市" + bad + "檀溪路1号" }, "/face/address"},
			} {
				n := f.idCard(person())
				c.mod(&n)
				_, err := f.svc.Issue(ctx, gaj, n)
				if errs.KindOf(err) != errs.KindInvalid || !hasPointer(err, c.pointer) {
					t.Errorf("%s with %q: %v, want invalid at %s", c.name, bad, err, c.pointer)
				}
			}
			l := mustIssue(t, f, f.idCard(person()))
			_, err := f.svc.Apply(ctx, gaj, l.ID, licence.Change{Event: licence.EventSuspend, Reason: "涉案" + bad + "暂扣"})
			if errs.KindOf(err) != errs.KindInvalid {
				t.Errorf("reason with %q: %v, want invalid", bad, err)
			}
			_, err = f.svc.Apply(ctx, gaj, l.ID, licence.Change{Event: licence.EventAmend, Reason: "更名", HolderName: "李" + bad + "四"})
			// The change's member is holder_name.
			if errs.KindOf(err) != errs.KindInvalid || !hasPointer(err, "/holder_name") {
				t.Errorf("new holder name with %q: %v, want invalid at /holder_name", bad, err)
			}
			if _, err := licence.CheckFileName("证照" + bad + "fdp.pdf"); errs.KindOf(err) != errs.KindInvalid {
				t.Errorf("file name with %q: %v, want invalid", bad, err)
			}
		}
		// Chinese text with its usual punctuation and spaces is fine.
		n := f.idCard(person())
		n.Holder.Name = "欧阳·娜娜"
		n.Face["address"] = "湖北省襄阳市襄城区檀溪路1号（东门）　3栋"
		if _, err := f.svc.Issue(ctx, gaj, n); err != nil {
			t.Fatal(err)
		}
	})
}
