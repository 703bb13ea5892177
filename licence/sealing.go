package licence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/seal"
)

// DocMediaType is the media type of a sealed licence document.
const DocMediaType = "application/vnd.sharehub.licence+json"

// sealKinds are the seal kinds a department seals licences with, in order
// of preference.
var sealKinds = []seal.Kind{seal.KindBusiness, seal.KindOfficial}

// sealFor returns the id of the seal department dept seals licences with:
// its active 业务专用章, else its active 公章. None is errs.Conflict.
func (s *Service) sealFor(ctx context.Context, dept string) (string, error) {
	s.mu.RLock()
	e, ok := s.seals[dept]
	s.mu.RUnlock()
	if ok && time.Since(e.at) < cacheTTL {
		return e.id, nil
	}
	if s.cfg.Sealer == nil {
		return "", errs.Unavailable(nil, "no seal service configured")
	}
	for _, k := range sealKinds {
		seals, _, err := s.cfg.Sealer.List(ctx, seal.ListFilter{OrganisationID: dept, Status: seal.StatusActive, Kind: k, Limit: 10})
		if err != nil {
			return "", err
		}
		now := s.now()
		for _, sl := range seals {
			if !now.Before(sl.ValidFrom) && now.Before(sl.ValidUntil) {
				s.mu.Lock()
				s.seals[dept] = sealEntry{id: sl.ID, at: time.Now()}
				s.mu.Unlock()
				return sl.ID, nil
			}
		}
	}
	return "", errs.Conflict("department %s has no active 业务专用章 or 公章 to seal licences with", dept)
}

// forgetSeal drops the cached seal of dept after a signing failure.
func (s *Service) forgetSeal(dept string) {
	s.mu.Lock()
	delete(s.seals, dept)
	s.mu.Unlock()
}

// sealer is the principal the licence service applies a department's seal
// as: the issuer (or importer) who caused the change, acting for the
// issuing department. The service has already checked that the caller
// may issue for that department; the seal's usage record names the caller.
func sealer(by *exchange.Principal, dept string) *exchange.Principal {
	return &exchange.Principal{ID: by.ID, Name: by.Name, DepartmentID: dept, Roles: []exchange.Role{exchange.RoleSealUser}}
}

// encode returns the sealed document of l and its SHA-256 in hex.
func encode(l *Licence) ([]byte, string, error) {
	doc, err := json.Marshal(l)
	if err != nil {
		return nil, "", errs.Internal(err, "licence %s", l.ID)
	}
	sum := sha256.Sum256(doc)
	return doc, hex.EncodeToString(sum[:]), nil
}

// sealDoc seals one licence document with the issuer department's seal.
func (s *Service) sealDoc(ctx context.Context, by *exchange.Principal, l *Licence, ev Event, doc []byte, digest string) ([]byte, error) {
	sealID, err := s.sealFor(ctx, l.IssuerID)
	if err != nil {
		return nil, err
	}
	req := seal.SignRequest{
		Document: seal.Document{SHA256: digest, Size: int64(len(doc)), MediaType: DocMediaType, Name: l.ID},
		Purpose:  "电子证照 " + string(ev) + " " + l.TypeName,
	}
	jws, err := s.cfg.Sealer.Sign(ctx, sealer(by, l.IssuerID), sealID, req)
	if err != nil {
		s.forgetSeal(l.IssuerID)
		return nil, err
	}
	return jws, nil
}
