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
func (s *Service) replacesProblem(ctx context.Context, l *Licence) (string, error) {
	p, err := ident.ParseLicenceID(l.Replaces)
	if err != nil {
		return err.Error(), nil
	}
	if p.TypeCode != l.TypeCode {
		return "the replaced licence is of another type (" + p.TypeCode + "); a licence replaces one of its own type", nil
	}
	var (
		typeCode, idType, id string
		version              int
	)
	err = s.db.R.QueryRowContext(ctx, `SELECT type_code, holder_id_type, holder_id, version FROM licences WHERE id = $1`, keyOf(l.Replaces)).
		Scan(&typeCode, &idType, &id, &version)
	if err := db.Interpret(err, "licence "+keyOf(l.Replaces)); errs.Is(err, errs.KindNotFound) {
		return "no licence with this identifier is registered", nil
	} else if err != nil {
		return "", err
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
func (s *Service) replacesField(ctx context.Context, l *Licence) ([]errs.FieldError, error) {
	why, err := s.replacesProblem(ctx, l)
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
