package licence

import (
	"time"

	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// Grant field codes of a licence type. A grant lists the ones a consumer
// may see ("*" for all). The identifier, type, issuer, status and version
// are always shown; everything else only when granted:
//
//	number       证照编号
//	holder_name  持证主体
//	holder_id    持证主体代码 (otherwise shown masked)
//	validity     颁发日期, 有效期
//	region       属地代码
//	face.CODE    one face field (照面信息), or "face" for all of them
//	file         the file's description and a short-lived download link
const (
	FieldNumber     = "number"
	FieldHolderName = "holder_name"
	FieldHolderID   = "holder_id"
	FieldValidity   = "validity"
	FieldRegion     = "region"
	FieldFace       = "face"
	FieldFile       = "file"
)

// View is a licence as a consumer sees it under a grant.
type View struct {
	ID         string            `json:"id"`
	TypeCode   string            `json:"type_code"`
	TypeName   string            `json:"type_name"`
	IssuerName string            `json:"issuer_name"`
	IssuerCode string            `json:"issuer_code"`
	Status     Status            `json:"status"`
	StatusName string            `json:"status_name"`
	Version    int               `json:"version"`
	Number     string            `json:"number,omitempty"`
	HolderName string            `json:"holder_name,omitempty"`
	HolderType string            `json:"holder_id_type"`
	HolderID   string            `json:"holder_id"`
	Masked     bool              `json:"holder_id_masked"`
	IssuedOn   string            `json:"issued_on,omitempty"`
	ValidFrom  string            `json:"valid_from,omitempty"`
	ValidUntil string            `json:"valid_until,omitempty"`
	Region     string            `json:"region,omitempty"`
	Face       map[string]string `json:"face,omitempty"`
	File       *File             `json:"file,omitempty"`
	FileURL    string            `json:"file_url,omitempty"`
	Replaces   string            `json:"replaces,omitempty"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

// ViewOf returns what a consumer allowed the fields allows says may see.
func ViewOf(l *Licence, allows func(string) bool, now time.Time) View {
	st := l.StatusAt(now)
	v := View{ID: l.ID, TypeCode: l.TypeCode, TypeName: l.TypeName, IssuerName: l.IssuerName, IssuerCode: l.IssuerCode,
		Status: st, StatusName: st.Name(), Version: l.Version, HolderType: l.Holder.IDType, Replaces: l.Replaces, UpdatedAt: l.UpdatedAt}
	if allows(FieldNumber) {
		v.Number = l.Number
	}
	if allows(FieldHolderName) {
		v.HolderName = l.Holder.Name
	}
	if allows(FieldHolderID) {
		v.HolderID = l.Holder.ID
	} else {
		v.HolderID, v.Masked = ident.Mask(kindOf(l.Holder.IDType), l.Holder.ID), true
	}
	if allows(FieldValidity) {
		v.IssuedOn, v.ValidFrom, v.ValidUntil = l.IssuedOn, l.ValidFrom, l.ValidUntil
	}
	if allows(FieldRegion) {
		v.Region = l.Region
	}
	all := allows(FieldFace)
	for k, val := range l.Face {
		if all || allows(FieldFace+"."+k) {
			if v.Face == nil {
				v.Face = map[string]string{}
			}
			v.Face[k] = val
		}
	}
	if allows(FieldFile) && l.File != nil {
		f := *l.File
		v.File = &f
	}
	return v
}

// MaskName hides all but the first character of a holder's name, as the
// public verify page shows it: 张** .
func MaskName(name string) string {
	r := []rune(name)
	if len(r) <= 1 {
		return "*"
	}
	out := []rune{r[0]}
	for range r[1:] {
		out = append(out, '*')
	}
	return string(out)
}
