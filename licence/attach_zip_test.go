package licence_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"hash/crc32"
	"log/slog"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/licence"
)

var zipPDF = []byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n")

// zipEntry is one entry of a test archive.
type zipEntry struct {
	name string
	data []byte
}

// makeZip writes entries (deflated) into an archive; a name ending in /
// is a folder.
func makeZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// lyingZip is an archive of one entry whose headers claim it inflates to
// claimed bytes while it inflates to len(data).
func lyingZip(t testing.TB, name string, data []byte, claimed uint64) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(data)
	fw.Close()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(data),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: claimed})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func attachZip(t testing.TB, svc *licence.Service, typeCode string, data []byte) ([]licence.AttachResult, error) {
	t.Helper()
	return svc.AttachZip(context.Background(), importer, typeCode, bytes.NewReader(data), int64(len(data)))
}

// byFile indexes results by entry name, failing on a name reported twice.
func byFile(t testing.TB, res []licence.AttachResult) map[string]licence.AttachResult {
	t.Helper()
	m := map[string]licence.AttachResult{}
	for _, r := range res {
		if _, dup := m[r.File]; dup {
			t.Fatalf("%s reported twice: %+v", r.File, res)
		}
		if r.Attached != (r.Error == "") || r.Attached != (r.Licence != "") {
			t.Fatalf("result %+v: attached must go with a licence and no error", r)
		}
		m[r.File] = r
	}
	return m
}

func TestAttachZip(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := context.Background()
		idType := f.types["居民身份证"].Code

		t.Run("good and bad entries", func(t *testing.T) {
			a := mustIssue(t, f, f.idCard(person()))
			b := mustIssue(t, f, f.idCard(person()))
			c := mustIssue(t, f, f.idCard(person()))
			e := mustIssue(t, f, f.idCard(person()))
			data := makeZip(t,
				zipEntry{"scans/", nil}, // a folder: ignored
				zipEntry{a.Number + ".pdf", zipPDF},
				zipEntry{"scans/" + b.Number + ".png", pngBytes}, // in a folder: matched by its base name
				zipEntry{"../../etc/" + c.Number + ".pdf", zipPDF},
				zipEntry{"/abs/" + c.Number + ".pdf", zipPDF},
				zipEntry{`scans\` + c.Number + ".pdf", zipPDF},
				zipEntry{"C:" + c.Number + ".pdf", zipPDF},
				zipEntry{e.Number + ".pdf", pngBytes},                                  // content is not what the name says
				zipEntry{"ID000000000.pdf", zipPDF},                                    // no such licence
				zipEntry{"notes.txt", []byte("hello")},                                 // not a licence file
				zipEntry{"__MACOSX/._" + a.Number + ".pdf", []byte{0, 5, 22, 7}},       // macOS metadata: ignored
				zipEntry{"scans/" + a.Number + ".jpg", []byte{0xff, 0xd8, 0xff, 0xe0}}, // a second file for a
			)
			res, err := attachZip(t, f.svc, idType, data)
			if err != nil {
				t.Fatal(err)
			}
			got := byFile(t, res)
			if len(res) != 10 {
				t.Fatalf("%d results, want 10 (folders and metadata ignored): %+v", len(res), res)
			}
			for name, want := range map[string]string{
				a.Number + ".pdf":                "",
				"scans/" + b.Number + ".png":     "",
				"../../etc/" + c.Number + ".pdf": "climbs out",
				"/abs/" + c.Number + ".pdf":      "absolute",
				`scans\` + c.Number + ".pdf":     "backslashes",
				"C:" + c.Number + ".pdf":         "absolute",
				e.Number + ".pdf":                "named as application/pdf but the content is image/png",
				"ID000000000.pdf":                "not found",
				"notes.txt":                      "a .pdf, .ofd, .png or .jpg file",
				"scans/" + a.Number + ".jpg":     "got its file from " + a.Number + ".pdf already",
			} {
				r, ok := got[name]
				switch {
				case !ok:
					t.Errorf("%s: not reported", name)
				case want == "" && !r.Attached:
					t.Errorf("%s: not attached: %s", name, r.Error)
				case want != "" && (r.Attached || !strings.Contains(r.Error, want)):
					t.Errorf("%s: %+v, want an error with %q", name, r, want)
				}
			}
			for _, c := range []struct {
				l           licence.Licence
				entry, name string
				media       string
			}{
				{a, a.Number + ".pdf", a.Number + ".pdf", licence.MediaPDF},
				{b, "scans/" + b.Number + ".png", b.Number + ".png", licence.MediaPNG},
			} {
				cur, err := f.svc.Get(ctx, c.l.ID)
				if err != nil || cur.File == nil || cur.Version != 2 || got[c.entry].Licence != cur.ID {
					t.Fatalf("licence %s after attach: %+v %v (result %+v)", c.l.Number, cur, err, got[c.entry])
				}
				if cur.File.MediaType != c.media || cur.File.Name != c.name {
					t.Fatalf("licence %s: file %+v", c.l.Number, cur.File)
				}
				if v, err := f.svc.Verify(ctx, cur.ID); err != nil || !v.Valid || !v.FileChecked {
					t.Fatalf("verify %s: %+v %v", c.l.Number, v, err)
				}
			}
			for _, l := range []licence.Licence{c, e} {
				if cur, _ := f.svc.Get(ctx, l.ID); cur.File != nil || cur.Version != 1 {
					t.Fatalf("licence %s changed: %+v", l.Number, cur)
				}
			}
		})

		t.Run("zip bombs", func(t *testing.T) {
			a := mustIssue(t, f, f.idCard(person()))
			// One entry: 64 MiB of a PDF's worth of zeros in a few tens of
			// kilobytes; the licence service takes files up to 1 MiB.
			bomb := append(append([]byte{}, zipPDF...), make([]byte, 64<<20)...)
			data := makeZip(t, zipEntry{a.Number + ".pdf", bomb})
			if len(data) > 200<<10 {
				t.Fatalf("the bomb is %d bytes", len(data))
			}
			res, err := attachZip(t, f.svc, idType, data)
			if err != nil || len(res) != 1 || res[0].Attached || !strings.Contains(res[0].Error, "over the limit") {
				t.Fatalf("entry bomb: %+v %v", res, err)
			}
			// Headers that understate the size are not believed.
			data = lyingZip(t, a.Number+".pdf", bomb[:4<<20], 1000)
			res, err = attachZip(t, f.svc, idType, data)
			if err != nil || len(res) != 1 || res[0].Attached || !strings.Contains(res[0].Error, "damaged") {
				t.Fatalf("understated entry: %+v %v", res, err)
			}
			// Headers that overstate it: the entry ends early, reported
			// as damaged.
			data = lyingZip(t, a.Number+".pdf", zipPDF, 1<<40)
			res, err = attachZip(t, f.svc, idType, data)
			if err != nil || len(res) != 1 || res[0].Attached || !strings.Contains(res[0].Error, "damaged") {
				t.Fatalf("overstated entry: %+v %v", res, err)
			}
			if cur, _ := f.svc.Get(ctx, a.ID); cur.File != nil {
				t.Fatalf("a bomb was attached: %+v", cur.File)
			}

			// The whole archive: entries each under the per-file limit
			// that together inflate past the archive's limit (3 MiB here).
			store, err := blob.Open(ctx, "file:"+f.blobDir, blob.Options{})
			if err != nil {
				t.Fatal(err)
			}
			small, err := licence.New(licence.Config{DB: d, Directory: f.ex, Sealer: f.seals, Files: store,
				MaxFileSize: 1 << 20, MaxZipBytes: 3 << 20, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			var ls []licence.Licence
			var entries []zipEntry
			for i := 0; i < 5; i++ {
				l := mustIssue(t, f, f.idCard(person()))
				ls = append(ls, l)
				entries = append(entries, zipEntry{l.Number + ".pdf", append(append([]byte{}, zipPDF...), make([]byte, 900<<10)...)})
			}
			data = makeZip(t, entries...)
			res, err = attachZip(t, small, idType, data)
			if err != nil || len(res) != 5 {
				t.Fatalf("archive bomb: %+v %v", res, err)
			}
			for i, r := range res {
				// 900 KiB each: three fit in 3 MiB, the fourth crosses.
				if want := i < 3; r.Attached != want {
					t.Errorf("entry %d: %+v, attached should be %v", i, r, want)
				}
				if i >= 3 && !strings.Contains(r.Error, "the archive inflates to more than 3145728 bytes") {
					t.Errorf("entry %d: %q", i, r.Error)
				}
				if cur, _ := f.svc.Get(ctx, ls[i].ID); (cur.File != nil) != (i < 3) {
					t.Errorf("licence %d: file %+v", i, cur.File)
				}
			}

			// Too many entries: refused whole.
			few, _ := licence.New(licence.Config{DB: d, Directory: f.ex, Sealer: f.seals, Files: store, MaxZipEntries: 2})
			_, err = attachZip(t, few, idType, makeZip(t, zipEntry{"1.pdf", zipPDF}, zipEntry{"2.pdf", zipPDF}, zipEntry{"3.pdf", zipPDF}))
			wantKind(t, err, errs.KindTooLarge)
		})

		t.Run("refused whole", func(t *testing.T) {
			data := makeZip(t, zipEntry{"1.pdf", zipPDF})
			_, err := attachZip(t, f.svc, idType, []byte("this is not a zip"))
			wantKind(t, err, errs.KindInvalid)
			_, err = attachZip(t, f.svc, "11420600000000027M999", data)
			wantKind(t, err, errs.KindInvalid)
			if e := (*errs.Error)(nil); !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Pointer != "?type_code" {
				t.Fatalf("unknown type: %#v", err)
			}
			run := func(p *exchange.Principal) error {
				_, err := f.svc.AttachZip(ctx, p, idType, bytes.NewReader(data), int64(len(data)))
				return err
			}
			wantKind(t, run(nil), errs.KindUnauthenticated)
			wantKind(t, run(issuer("xy-mzj")), errs.KindForbidden) // issues marriage certificates, not identity cards
			app := *issuer("xy-gaj")
			app.Roles = []exchange.Role{exchange.RoleApp}
			wantKind(t, run(&app), errs.KindForbidden) // no issuer role
			// The police's issuers may: an archive with nothing for them.
			if res, err := f.svc.AttachZip(ctx, issuer("xy-gaj"), idType, bytes.NewReader(data), int64(len(data))); err != nil || len(res) != 1 || res[0].Attached {
				t.Fatalf("issuer: %+v %v", res, err)
			}
		})

		t.Run("issuers attach to their own department's licences", func(t *testing.T) {
			// A type two departments issue.
			shared := f.types["居民身份证"]
			shared.Code, shared.Name, shared.IssuerIDs = shared.Code[:18]+"990", "测试共用证照", []string{"xy-gaj", "xy-mzj"}
			if _, err := f.svc.SaveType(ctx, f.admin, shared); err != nil {
				t.Fatal(err)
			}
			n := f.idCard(person())
			n.TypeCode = shared.Code
			mine, err := f.svc.Issue(ctx, issuer("xy-mzj"), n)
			if err != nil {
				t.Fatal(err)
			}
			data := makeZip(t, zipEntry{mine.Number + ".pdf", zipPDF})
			res, err := f.svc.AttachZip(ctx, issuer("xy-gaj"), shared.Code, bytes.NewReader(data), int64(len(data)))
			if err != nil || len(res) != 1 || res[0].Attached || !strings.Contains(res[0].Error, "issued by xy-gaj not found") {
				t.Fatalf("another department's licence: %+v %v", res, err)
			}
			if cur, _ := f.svc.Get(ctx, mine.ID); cur.File != nil {
				t.Fatalf("attached by another department: %+v", cur.File)
			}
			res, err = f.svc.AttachZip(ctx, issuer("xy-mzj"), shared.Code, bytes.NewReader(data), int64(len(data)))
			if err != nil || len(res) != 1 || !res[0].Attached {
				t.Fatalf("own licence: %+v %v", res, err)
			}
		})
	})
}
