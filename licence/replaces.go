package licence

import (
	"context"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// replacesProblem checks the licence l says it replaces (关联证照标识,
// l.Replaces, whose form validate checked): a licence replaces an earlier
// licence of its own type held by the same holder (换发, 补发), so the
// replaced one must be registered here, at a version it has had, of l's
// type and held by l's holder. It returns why not ("" when it is fine);
// the error is a failure to look.
//
// The replaced licence's status is not checked: it may already be
// cancelled, and its issuer changes it on its own.
//
// dept, when not "", is the department of the issuer asking: a licence
// of another department may be replaced (a licence is often reissued
// elsewhere), but what is wrong with it is not told, since that would say
// whether it exists and who holds it; one neutral reason is given instead.
func (s *Service) replacesProblem(ctx context.Context, l *Licence, dept string) (string, error) {
	p, err := ident.ParseLicenceID(l.Replaces)
	if err != nil {
		return err.Error(), nil
	}
	if p.TypeCode != l.TypeCode {
		return "the replaced licence is of another type (" + p.TypeCode + "); a licence replaces one of its own type", nil
	}
	var (
		typeCode, idType, id, issuer string
		version                      int
	)
	err = s.db.R.QueryRowContext(ctx, `SELECT type_code, holder_id_type, holder_id, version, issuer_id FROM licences WHERE id = $1`, keyOf(l.Replaces)).
		Scan(&typeCode, &idType, &id, &version, &issuer)
	notFound := errs.Is(db.Interpret(err, "licence"), errs.KindNotFound)
	if err != nil && !notFound {
		return "", db.Interpret(err, "licence "+keyOf(l.Replaces))
	}
	foreign := dept != "" && !notFound && issuer != dept
	if dept != "" && notFound {
		// Whose it would be is in the identifier: the issuing department's
		// credit code.
		d, err := s.department(ctx, dept)
		if err != nil {
			return "", err
		}
		foreign = d.Code != p.IssuerCode
	}
	if foreign {
		if notFound || typeCode != l.TypeCode || idType != l.Holder.IDType || id != l.Holder.ID || p.Version > version {
			return "no licence of this type and holder is registered with this identifier", nil
		}
		return "", nil
	}
	if notFound {
		return "no licence with this identifier is registered", nil
	}
	switch {
	case typeCode != l.TypeCode:
		return "the replaced licence is of another type (" + typeCode + "); a licence replaces one of its own type", nil
	case idType != l.Holder.IDType || id != l.Holder.ID:
		return "the replaced licence is held by someone else; a licence replaces one of the same holder", nil
	case p.Version > version:
		return "the replaced licence has no version " + pad3(p.Version) + " (it is at version " + pad3(version) + ")", nil
	}
	return "", nil
}

// replacesField is replacesProblem as a field error of an issue request.
func (s *Service) replacesField(ctx context.Context, l *Licence, dept string) ([]errs.FieldError, error) {
	why, err := s.replacesProblem(ctx, l, dept)
	if err != nil || why == "" {
		return nil, err
	}
	return []errs.FieldError{{Pointer: "/replaces", Reason: why, Value: clip(l.Replaces, 100)}}, nil
}

func hasPointer(fe []errs.FieldError, pointer string) bool {
	for _, e := range fe {
		if e.Pointer == pointer {
			return true
		}
	}
	return false
}
