package api_test

import (
	"archive/zip"
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
)

// zipOf builds an archive of name → content, deflated, in the order given.
func zipOf(t *testing.T, entries ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e[1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type attachReply struct {
	Attached    int `json:"attached"`
	NotAttached int `json:"not_attached"`
	Items       []struct {
		File     string `json:"file"`
		Attached bool   `json:"attached"`
		Licence  string `json:"licence"`
		Error    string `json:"error"`
	} `json:"items"`
}

// TestLicenceAttachZipAPI uploads zips of licence files through
// POST /v1/licence-attachments, and issues replacement licences.
func TestLicenceAttachZipAPI(t *testing.T) {
	for _, b := range dbtest.Backends {
		t.Run(string(b), func(t *testing.T) {
			h := newLicenceHub(t, hubtest.Start(t, b))
			issue := func() (id, number string) {
				l := h.Do(t, "POST", "/v1/licences", h.police, idCard(h, newHolder())).Want(t, 201).Map(t)
				return l["id"].(string), l["number"].(string)
			}
			good, goodNo := issue()
			bombed, bombNo := issue()
			mislabelled, mislabelledNo := issue()
			pdf := "%PDF-1.7\n%%EOF\n"
			png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
			bomb := pdf + strings.Repeat("\x00", 21<<20) // over the hub's 20 MiB per file, ~21 KB deflated
			data := zipOf(t,
				[2]string{"licences/", ""},
				[2]string{"licences/" + goodNo + ".pdf", pdf},
				[2]string{"../../" + goodNo + ".pdf", pdf},
				[2]string{bombNo + ".pdf", bomb},
				[2]string{mislabelledNo + ".pdf", png},
				[2]string{"XY000000.pdf", pdf},
			)
			if len(data) > 100<<10 {
				t.Fatalf("test archive is %d bytes", len(data))
			}
			path := "/v1/licence-attachments?type_code=" + url.QueryEscape(h.idType) + "&filename=scans.zip"

			t.Run("refused", func(t *testing.T) {
				h.Do(t, "POST", path, h.civilIssuer, data).Want(t, 403).Problem(t) // issuer of a department that does not issue the type
				h.Do(t, "POST", path, h.AppKey, data).Want(t, 403).Problem(t)      // no issuer role
				h.Do(t, "POST", path, "", data).Want(t, 401)
				p := h.Do(t, "POST", "/v1/licence-attachments", h.police, data).Want(t, 400).Problem(t)
				if !strings.Contains(string(licenceJSON(t, p)), `"?type_code"`) {
					t.Fatalf("no pointer at ?type_code: %v", p)
				}
				p = h.Do(t, "POST", path, h.police, []byte("not a zip")).Want(t, 400).Problem(t)
				if !strings.Contains(string(licenceJSON(t, p)), `"pointer":"file"`) {
					t.Fatalf("no pointer at the file: %v", p)
				}
				for _, id := range []string{good, bombed, mislabelled} {
					v := h.Do(t, "POST", "/v1/licences/"+url.PathEscape(id)+"/verify", h.police, nil).Want(t, 200).Map(t)
					if v["version"] != 1.0 || v["file_checked"] != false {
						t.Fatalf("licence changed by a refused upload: %v", v)
					}
				}
			})

			t.Run("attached and not", func(t *testing.T) {
				var r attachReply
				h.Do(t, "POST", path, h.police, data).Want(t, 200).JSON(t, &r)
				if r.Attached != 1 || r.NotAttached != 4 || len(r.Items) != 5 {
					t.Fatalf("reply %+v", r)
				}
				want := map[string]string{
					"licences/" + goodNo + ".pdf": "",
					"../../" + goodNo + ".pdf":    "climbs out",
					bombNo + ".pdf":               "over the limit",
					mislabelledNo + ".pdf":        "content is image/png",
					"XY000000.pdf":                "not found",
				}
				for _, it := range r.Items {
					w, ok := want[it.File]
					delete(want, it.File)
					switch {
					case !ok:
						t.Errorf("unexpected item %+v", it)
					case w == "" && (!it.Attached || it.Licence == ""):
						t.Errorf("%s not attached: %+v", it.File, it)
					case w != "" && (it.Attached || !strings.Contains(it.Error, w)):
						t.Errorf("%s: %+v, want an error with %q", it.File, it, w)
					}
				}
				if len(want) > 0 {
					t.Errorf("not reported: %v", want)
				}
				v := h.Do(t, "POST", "/v1/licences/"+url.PathEscape(good)+"/verify", h.police, nil).Want(t, 200).Map(t)
				if v["valid"] != true || v["file_checked"] != true || v["version"] != 2.0 {
					t.Fatalf("attached licence: %v", v)
				}
				for _, id := range []string{bombed, mislabelled} {
					if v := h.Do(t, "POST", "/v1/licences/"+url.PathEscape(id)+"/verify", h.police, nil).Want(t, 200).Map(t); v["version"] != 1.0 {
						t.Fatalf("licence with a bad entry changed: %v", v)
					}
				}
			})

			t.Run("replaces", func(t *testing.T) {
				holder := newHolder()
				old := h.Do(t, "POST", "/v1/licences", h.police, idCard(h, holder)).Want(t, 201).Map(t)
				n := idCard(h, holder)
				delete(n, "number")
				n["replaces"] = good // another holder's licence
				p := h.Do(t, "POST", "/v1/licences", h.police, n).Want(t, 400).Problem(t)
				if !strings.Contains(string(licenceJSON(t, p)), `"pointer":"/replaces"`) {
					t.Fatalf("no pointer at /replaces: %v", p)
				}
				n["replaces"] = old["id"]
				if l := h.Do(t, "POST", "/v1/licences", h.police, n).Want(t, 201).Map(t); l["replaces"] != old["id"] {
					t.Fatalf("replacement: %v", l)
				}
			})
		})
	}
}
