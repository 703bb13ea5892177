package blob

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Local directory layout:
//
//	DIR/ab/cd/<key>        the content (key = abcd...)
//	DIR/ab/cd/<key>.json   {"size":..,"media_type":..,"created":..}
//	DIR/.tmp/              uploads in progress (same file system, so the
//	                       final step is an atomic link or rename)
//
// Put writes the content to DIR/.tmp, fsyncs it, writes the sidecar the
// same way, then links both into place without replacing anything that is
// already there (first writer wins; concurrent Puts of the same content
// agree on one Info), fsyncs the directory and removes the temp names. A
// reader therefore sees either no object or the complete object, never a
// partial file. Existence is the content file; a sidecar without content
// (a crashed Put) is harmless and reused.

const (
	tmpDirName   = ".tmp"
	staleTmpAge  = 24 * time.Hour
	dirPerm      = 0o750
	copyBufBytes = 256 << 10
)

type localStore struct {
	dir    string
	tmp    string
	max    int64
	secret []byte
	base   string
}

type sidecar struct {
	Size      int64     `json:"size"`
	MediaType string    `json:"media_type"`
	Created   time.Time `json:"created"`
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufBytes); return &b }}

func openLocal(dir string, opts Options) (*localStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, errs.Invalid("blob directory %q: %v", dir, err)
	}
	s := &localStore{
		dir:    abs,
		tmp:    filepath.Join(abs, tmpDirName),
		max:    opts.maxSize(),
		secret: append([]byte(nil), opts.LinkSecret...),
		base:   opts.LinkBaseURL,
	}
	if err := os.MkdirAll(s.tmp, dirPerm); err != nil {
		return nil, errs.Unavailable(err, "blob directory cannot be created")
	}
	removeStaleTemps(s.tmp, "")
	if err := s.Ping(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// removeStaleTemps deletes the temp files in dir whose names start with
// prefix ("" for all) left by crashed processes. Only old ones: another
// process may be writing into the same directory right now.
func removeStaleTemps(dir, prefix string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-staleTmpAge)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func (s *localStore) shard(key string) string {
	return filepath.Join(s.dir, key[0:2], key[2:4])
}

func (s *localStore) path(key string) string { return filepath.Join(s.shard(key), key) }

func (s *localStore) metaPath(key string) string { return s.path(key) + ".json" }

func (s *localStore) Put(ctx context.Context, r io.Reader, mediaType string) (Info, error) {
	mt, err := normMediaType(mediaType)
	if err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, errs.Unavailable(err, "blob upload cancelled")
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return Info{}, errs.Unavailable(err, "blob store is not writable")
	}
	tmpName := f.Name()
	done := false
	defer func() {
		if !done {
			_ = f.Close()
		}
		_ = os.Remove(tmpName) // the content is linked into place, or abandoned
	}()

	h := sha256.New()
	bp := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, s.max+1), *bp)
	copyBufs.Put(bp)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == tmpName {
			return Info{}, errs.Unavailable(err, "writing blob failed")
		}
		return Info{}, readErr(ctx, err)
	}
	if n > s.max {
		return Info{}, errs.TooLarge("blob larger than the limit of %d bytes", s.max)
	}
	key := hexKey(h.Sum(nil))

	// Already stored: keep the first copy, its media type and created time.
	if info, err := s.Stat(ctx, key); err == nil {
		return info, nil
	}

	if err := f.Sync(); err != nil {
		return Info{}, errs.Unavailable(err, "writing blob failed")
	}
	done = true
	if err := f.Close(); err != nil {
		return Info{}, errs.Unavailable(err, "writing blob failed")
	}

	shard := s.shard(key)
	if err := mkdirAllSynced(s.dir, shard); err != nil {
		return Info{}, errs.Unavailable(err, "blob store is not writable")
	}

	meta, _ := json.Marshal(sidecar{Size: n, MediaType: mt, Created: time.Now().UTC()})
	if err := s.writeMeta(key, meta); err != nil {
		return Info{}, err
	}
	if err := placeNoReplace(tmpName, s.path(key)); err != nil {
		return Info{}, errs.Unavailable(err, "storing blob failed")
	}
	if err := syncDir(shard); err != nil {
		return Info{}, errs.Unavailable(err, "storing blob failed")
	}
	return s.Stat(ctx, key)
}

// writeMeta puts the sidecar in place unless one exists already.
func (s *localStore) writeMeta(key string, meta []byte) error {
	f, err := os.CreateTemp(s.tmp, "meta-*")
	if err != nil {
		return errs.Unavailable(err, "blob store is not writable")
	}
	name := f.Name()
	defer os.Remove(name)
	_, err = f.Write(meta)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = placeNoReplace(name, s.metaPath(key))
	}
	if err != nil {
		return errs.Unavailable(err, "writing blob metadata failed")
	}
	return nil
}

// placeNoReplace gives the file at tmp the name dst unless dst exists.
// A hard link never replaces; where hard links are not supported, fall back
// to rename (atomic, and the content under one key is always the same).
func placeNoReplace(tmp, dst string) error {
	err := os.Link(tmp, dst)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	if _, serr := os.Lstat(dst); serr == nil {
		return nil
	}
	return os.Rename(tmp, dst)
}

// mkdirAllSynced creates dir (under root) and fsyncs the parents of any
// directory it created, so the new entries survive a crash.
func mkdirAllSynced(root, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	for d := dir; d != root && len(d) > len(root); d = filepath.Dir(d) {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && (errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrInvalid)) {
		return nil // some file systems cannot fsync a directory
	}
	return err
}

func (s *localStore) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey(key); err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, Info{}, s.fileErr(key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Info{}, s.fileErr(key, err)
	}
	return f, s.info(key, fi), nil
}

func (s *localStore) Stat(ctx context.Context, key string) (Info, error) {
	if err := checkKey(key); err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(s.path(key))
	if err != nil {
		return Info{}, s.fileErr(key, err)
	}
	return s.info(key, fi), nil
}

// info combines the content file's size with the sidecar; a missing or
// unreadable sidecar falls back to the default media type and the mtime.
func (s *localStore) info(key string, fi fs.FileInfo) Info {
	info := Info{Key: key, Size: fi.Size(), MediaType: DefaultMediaType, Created: fi.ModTime().UTC()}
	if b, err := os.ReadFile(s.metaPath(key)); err == nil {
		var m sidecar
		if json.Unmarshal(b, &m) == nil {
			if m.MediaType != "" {
				info.MediaType = m.MediaType
			}
			if !m.Created.IsZero() {
				info.Created = m.Created.UTC()
			}
		}
	}
	return info
}

func (s *localStore) fileErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errs.NotFound("blob %s not found", key)
	}
	return errs.Unavailable(err, "blob %s cannot be read", key)
}

func (s *localStore) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := os.Remove(s.path(key))
	if merr := os.Remove(s.metaPath(key)); merr != nil && !errors.Is(merr, fs.ErrNotExist) && err == nil {
		err = merr
	}
	if err != nil {
		return s.fileErr(key, err)
	}
	return nil
}

func (s *localStore) Link(ctx context.Context, key string, ttl time.Duration, filename string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	if err := checkFilename(filename); err != nil {
		return "", err
	}
	if len(s.secret) == 0 {
		return "", errs.Internal(errors.New("blob.Options.LinkSecret is empty"), "download links are not configured")
	}
	if _, err := s.Stat(ctx, key); err != nil {
		return "", err
	}
	return localLink(s.base, s.secret, key, linkExpiry(time.Now(), ttl), filename), nil
}

// Ping checks that the directory exists and a file can be created in it.
func (s *localStore) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return errs.Unavailable(err, "blob store ping cancelled")
	}
	f, err := os.CreateTemp(s.tmp, "ping-*")
	if err != nil {
		return errs.Unavailable(err, "blob store is not writable")
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return errs.Unavailable(err, "blob store is not writable")
	}
	return nil
}
