package licence

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/ident"
)

// Media types of licence files.
const (
	MediaPDF  = "application/pdf"
	MediaOFD  = "application/ofd" // GB/T 33190 OFD: a zip holding OFD.xml
	MediaPNG  = "image/png"
	MediaJPEG = "image/jpeg"
)

var extMedia = map[string]string{".pdf": MediaPDF, ".ofd": MediaOFD, ".png": MediaPNG, ".jpg": MediaJPEG, ".jpeg": MediaJPEG}

// CheckFileName rejects names that are empty, too long, path-like or
// carry control characters, and returns the media type its extension
// promises.
func CheckFileName(name string) (string, error) {
	bad := func(reason string) error {
		return errs.InvalidFields("bad file name", errs.FieldError{Pointer: "name", Reason: reason, Value: clip(name, 80)})
	}
	switch {
	case name == "" || utf8.RuneCountInString(name) > 255 || !utf8.ValidString(name):
		return "", bad("a file name of 1 to 255 characters")
	case strings.ContainsAny(name, `/\:`) || name == "." || name == ".." || strings.HasPrefix(name, "."):
		return "", bad("a plain file name, not a path")
	case hasControl(name):
		return "", bad("must not contain control characters")
	}
	mt, ok := extMedia[strings.ToLower(path.Ext(name))]
	if !ok {
		return "", bad("a .pdf, .ofd, .png or .jpg file")
	}
	return mt, nil
}

// SniffFile returns the media type of a licence file from its content:
// PDF, OFD (a zip with OFD.xml), PNG or JPEG; anything else is errs.Invalid.
func SniffFile(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte("%PDF-")):
		return MediaPDF, nil
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return MediaPNG, nil
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		return MediaJPEG, nil
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err == nil {
			for _, f := range zr.File {
				if strings.EqualFold(f.Name, "OFD.xml") {
					return MediaOFD, nil
				}
			}
		}
		return "", errs.InvalidFields("the file is not a licence file", errs.FieldError{Pointer: "file", Reason: "a zip without OFD.xml is not an OFD document"})
	}
	return "", errs.InvalidFields("the file is not a licence file", errs.FieldError{Pointer: "file", Reason: "content is not PDF, OFD, PNG or JPEG"})
}

// AttachFile stores a licence's file and records it as a new sealed
// version (the seal covers the file's digest). The name must be plain and
// its extension must agree with the content, which is sniffed (errs.Invalid);
// content over Config.MaxFileSize is errs.TooLarge. Only the issuing
// department's issuers may (errs.Forbidden).
func (s *Service) AttachFile(ctx context.Context, by *exchange.Principal, id, name string, r io.Reader) (Licence, error) {
	if s.cfg.Files == nil {
		return Licence{}, errs.Unavailable(nil, "no file store configured")
	}
	want, err := CheckFileName(name)
	if err != nil {
		return Licence{}, err
	}
	l, err := s.Get(ctx, id)
	if err != nil {
		return Licence{}, err
	}
	t, err := s.Type(ctx, l.TypeCode)
	if err != nil {
		return Licence{}, err
	}
	if err := requireIssuer(by, &t); err != nil {
		return Licence{}, err
	}
	if by.DepartmentID != l.IssuerID {
		return Licence{}, errs.Forbidden("licence %s was issued by %s; only its issuer may attach files", l.Key(), l.IssuerID)
	}
	return s.attach(ctx, by, l, name, want, r)
}

// attach stores the file and seals the new version; the caller checked
// who may.
func (s *Service) attach(ctx context.Context, by *exchange.Principal, l Licence, name, want string, r io.Reader) (Licence, error) {
	st := l.StatusAt(s.now())
	if st != StatusValid && st != StatusSuspended {
		return Licence{}, errs.Conflict("licence %s is %s; files can be attached only to live licences", l.Key(), st.Name())
	}
	data, err := io.ReadAll(io.LimitReader(r, s.cfg.MaxFileSize+1))
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) {
			return Licence{}, e // e.g. an archive over its limit (attach.go)
		}
		return Licence{}, errs.Invalid("reading the file: %v", err)
	}
	if int64(len(data)) > s.cfg.MaxFileSize {
		return Licence{}, errs.TooLarge("the file is over the limit of %d bytes", s.cfg.MaxFileSize)
	}
	got, err := SniffFile(data)
	if err != nil {
		return Licence{}, err
	}
	if got != want {
		return Licence{}, errs.InvalidFields("the file is not what its name says",
			errs.FieldError{Pointer: "file", Reason: "named as " + want + " but the content is " + got, Value: clip(name, 80)})
	}
	info, err := s.cfg.Files.Put(ctx, bytes.NewReader(data), got)
	if err != nil {
		return Licence{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	prev := l.Version
	if prev >= 999 {
		return Licence{}, errs.Conflict("licence %s has reached version 999", l.Key())
	}
	l.File = &File{SHA256: info.Key, Size: info.Size, MediaType: got, Name: name}
	l.Version = prev + 1
	p, _ := ident.ParseLicenceID(l.ID)
	if l.ID, err = ident.NewLicenceID(p.TypeCode, p.IssuerCode, p.Serial, l.Version); err != nil {
		return Licence{}, errs.Internal(err, "licence identifier")
	}
	l.UpdatedAt = now
	if err := s.commit(ctx, by, &l, EventFile, "file "+name, prev); err != nil {
		return Licence{}, err
	}
	return l, nil
}

// FileLink returns a short-lived download link to a licence's file.
func (s *Service) FileLink(ctx context.Context, l *Licence) (string, time.Time, error) {
	if l.File == nil {
		return "", time.Time{}, errs.NotFound("licence %s has no file", l.Key())
	}
	if s.cfg.Files == nil {
		return "", time.Time{}, errs.Unavailable(nil, "no file store configured")
	}
	u, err := s.cfg.Files.Link(ctx, l.File.SHA256, s.cfg.FileLinkTTL, l.File.Name)
	return u, s.now().Add(s.cfg.FileLinkTTL), err
}
