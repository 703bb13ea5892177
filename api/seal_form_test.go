package api_test

import (
	"mime/multipart"
	"net/textproto"
	"testing"

	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/internal/hub/hubtest"
	"github.com/xiangyang-gov/sharehub/seal"
)

// browserForm posts a multipart form as a browser sends it: a file input
// left empty is a part with an empty file name and no content.
func browserForm(t *testing.T, h *hubtest.Hub, path, key string, fields map[string]string, files map[string][]byte, emptyFiles ...string) *hubtest.Response {
	t.Helper()
	return postForm(t, h, path, key, func(w *multipart.Writer) {
		writeFormParts(t, w, fields, files)
		for _, k := range emptyFiles {
			hdr := textproto.MIMEHeader{}
			hdr.Set("Content-Disposition", `form-data; name="`+k+`"; filename=""`)
			hdr.Set("Content-Type", "application/octet-stream")
			if _, err := w.CreatePart(hdr); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestSealFormWithEmptyInputs: a sealing or verification form whose
// optional inputs are left empty (the sealed document to add a seal to,
// the document to check) is taken as without them: the seal is applied to
// the uploaded file, and the verification says the document was not
// checked rather than that every seal's digest is wrong.
func TestSealFormWithEmptyInputs(t *testing.T) {
	h := hubtest.Start(t, dbtest.Backends[0])
	civil := appDepartment(h)
	sealer := sealUserKey(t, h, civil, "form-sealer")
	s := createSeal(t, h, civil, "襄阳市民政局业务专用章（表单）")
	doc := []byte("%PDF-1.7 婚姻登记证明\n")

	for name, r := range map[string]*hubtest.Response{
		"empty existing field":      browserForm(t, h, "/v1/seals/"+s.ID+"/sign", sealer, map[string]string{"purpose": "出具证明", "existing": ""}, map[string][]byte{"file": doc}),
		"existing file input empty": browserForm(t, h, "/v1/seals/"+s.ID+"/sign", sealer, map[string]string{"purpose": "出具证明"}, map[string][]byte{"file": doc}, "existing"),
	} {
		if r.Status != 200 {
			t.Errorf("sign, %s: status %d: %s", name, r.Status, r.Body)
			continue
		}
		res := verifyResult(t, h, r.Body, doc)
		if !res.Valid || len(res.Signatures) != 1 || res.Signatures[0].SealID != s.ID {
			t.Errorf("sign, %s: %s", name, mustJSON(res))
		}
	}

	jws := browserForm(t, h, "/v1/seals/"+s.ID+"/sign", sealer, map[string]string{"purpose": "出具证明"}, map[string][]byte{"file": doc}).Want(t, 200).Body
	for name, r := range map[string]*hubtest.Response{
		"empty document field":      browserForm(t, h, "/v1/signatures/verify", "", map[string]string{"jws": string(jws), "document": ""}, nil),
		"document file input empty": browserForm(t, h, "/v1/signatures/verify", "", map[string]string{"jws": string(jws)}, nil, "document"),
	} {
		var res seal.Result
		r.Want(t, 200).JSON(t, &res)
		if !res.Valid || res.DocumentChecked {
			t.Errorf("verify, %s: %s", name, mustJSON(res))
		}
	}
	// The document given is still checked.
	var res seal.Result
	browserForm(t, h, "/v1/signatures/verify", "", map[string]string{"jws": string(jws), "document": "另一份文件"}, nil).Want(t, 200).JSON(t, &res)
	if res.Valid || !res.DocumentChecked || res.Signatures[0].Reason != seal.ReasonDigestMismatch {
		t.Errorf("verify, another document: %s", mustJSON(res))
	}
}
