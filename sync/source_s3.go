package datasync

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/xuri/excelize/v2"

	"github.com/xiangyang-gov/sharehub/internal/db"
)

// S3FilesConnector reads csv and xlsx files dropped under an S3 prefix
// (Spec.Source.Blobs is s3://BUCKET?endpoint=HOST:PORT&access_key=…&
// secret_key=…&secure=false&region=…, Prefix the folder). The first row of
// a file (the first sheet of an xlsx) names the fields. Each file (key and
// ETag) is taken once: when its last row is staged it is recorded in
// sync_files in the same transaction, so neither a later run nor a resumed
// one reads it again; a failed run gives its files back. Files are read in
// key order, one page never spans two files.
type S3FilesConnector struct {
	db       *db.DB
	PageSize int // default 5000
}

// TakenFile is an object a page finished.
type TakenFile struct{ Key, ETag string }

type s3Object struct{ key, etag string }

// Open lists the untaken files; req.Checkpoint ("KEY\x1fROW") resumes
// inside a file.
func (c S3FilesConnector) Open(ctx context.Context, spec SourceSpec, req Request) (Reader, error) {
	cl, bucket, err := s3Client(spec.Blobs)
	if err != nil {
		return nil, err
	}
	taken := map[string]bool{}
	rows, err := c.db.R.QueryContext(ctx, `SELECT object_key, etag FROM sync_files WHERE job_id = $1`, req.JobID)
	if err != nil {
		return nil, db.Interpret(err, "sync files")
	}
	for rows.Next() {
		var k, e string
		if err := rows.Scan(&k, &e); err != nil {
			rows.Close()
			return nil, db.Interpret(err, "sync files")
		}
		taken[k+"\x00"+e] = true
	}
	rows.Close()
	var objs []s3Object
	prefix := strings.TrimPrefix(spec.Prefix, "/")
	for o := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("listing %s/%s: %w", bucket, prefix, o.Err)
		}
		ext := strings.ToLower(path.Ext(o.Key))
		if ext != ".csv" && ext != ".xlsx" {
			continue
		}
		etag := strings.Trim(o.ETag, `"`)
		if !taken[o.Key+"\x00"+etag] {
			objs = append(objs, s3Object{o.Key, etag})
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].key < objs[j].key })
	size := c.PageSize
	if size <= 0 {
		size = 5000
	}
	r := &s3Reader{cl: cl, bucket: bucket, objs: objs, size: size}
	if req.Checkpoint != "" {
		key, row, ok := strings.Cut(req.Checkpoint, "\x1f")
		n, err := strconv.Atoi(row)
		if !ok || err != nil {
			return nil, fmt.Errorf("checkpoint %q is not KEY\\x1fROW", req.Checkpoint)
		}
		for len(r.objs) > 0 && r.objs[0].key < key {
			r.objs = r.objs[1:]
		}
		r.skip = n
	}
	return r, nil
}

func s3Client(spec string) (*minio.Client, string, error) {
	u, err := url.Parse(spec)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, "", fmt.Errorf("source blobs %q: want s3://BUCKET?endpoint=...", spec)
	}
	q := u.Query()
	secure := true
	if v := q.Get("secure"); v != "" {
		secure, _ = strconv.ParseBool(v)
	}
	access, secret := q.Get("access_key"), q.Get("secret_key")
	if access == "" {
		access, secret = os.Getenv("SHAREHUB_S3_ACCESS_KEY"), os.Getenv("SHAREHUB_S3_SECRET_KEY")
	}
	cl, err := minio.New(q.Get("endpoint"), &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Secure: secure, Region: q.Get("region")})
	if err != nil {
		return nil, "", err
	}
	return cl, u.Host, nil
}

type s3Reader struct {
	cl     *minio.Client
	bucket string
	objs   []s3Object
	size   int
	skip   int // rows of the first file already staged (resume)

	cur    *s3Object
	header []string
	next   func() ([]string, error)
	close  func()
	row    int // data rows read of cur
}

func (r *s3Reader) Close() error {
	if r.close != nil {
		r.close()
		r.close = nil
	}
	return nil
}

func (r *s3Reader) Next(ctx context.Context) (Page, error) {
	if r.cur == nil {
		if len(r.objs) == 0 {
			return Page{}, errDone
		}
		o := r.objs[0]
		r.objs = r.objs[1:]
		if err := r.open(ctx, o); err != nil {
			return Page{}, &SourceError{Position: "file " + o.key, Err: err}
		}
	}
	pos := fmt.Sprintf("file %s rows from %d", r.cur.key, r.row+2)
	p := Page{Position: pos, Total: -1}
	for len(p.Records) < r.size {
		vals, err := r.next()
		if errors.Is(err, io.EOF) {
			p.Taken = &TakenFile{Key: r.cur.key, ETag: r.cur.etag}
			r.cur = nil
			r.Close()
			break
		}
		if err != nil {
			return Page{}, &SourceError{Position: pos, Err: err}
		}
		r.row++
		if r.skip > 0 {
			r.skip--
			continue
		}
		rec := make(Record, len(r.header))
		for i, h := range r.header {
			if i < len(vals) {
				rec[h] = vals[i]
			} else {
				rec[h] = ""
			}
		}
		p.Records = append(p.Records, rec)
	}
	if r.cur != nil {
		p.Checkpoint = r.cur.key + "\x1f" + strconv.Itoa(r.row)
	}
	return p, nil
}

// open downloads o to a temporary file and starts reading its rows.
func (r *s3Reader) open(ctx context.Context, o s3Object) error {
	obj, err := r.cl.GetObject(ctx, r.bucket, o.key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	tmp, err := os.CreateTemp("", "sharehub-sync-*"+path.Ext(o.key))
	if err != nil {
		return err
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, obj); err != nil {
		cleanup()
		return err
	}
	if strings.EqualFold(path.Ext(o.key), ".csv") {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			cleanup()
			return err
		}
		cr := csv.NewReader(tmp)
		cr.FieldsPerRecord = -1
		r.next = cr.Read
		r.close = cleanup
	} else {
		f, err := excelize.OpenFile(tmp.Name())
		if err != nil {
			cleanup()
			return fmt.Errorf("not a readable xlsx file: %v", err)
		}
		rows, err := f.Rows(f.GetSheetName(0))
		if err != nil {
			f.Close()
			cleanup()
			return err
		}
		r.next = func() ([]string, error) {
			if !rows.Next() {
				if err := rows.Error(); err != nil {
					return nil, err
				}
				return nil, io.EOF
			}
			return rows.Columns()
		}
		r.close = func() { rows.Close(); f.Close(); cleanup() }
	}
	head, err := r.next()
	if err != nil {
		r.Close()
		if errors.Is(err, io.EOF) {
			return errors.New("the file is empty: it needs a header row")
		}
		return err
	}
	if len(head) > 0 {
		head[0] = string(bytes.TrimPrefix([]byte(head[0]), []byte("\xef\xbb\xbf")))
	}
	for i := range head {
		head[i] = strings.TrimSpace(head[i])
	}
	r.cur, r.header, r.row = &o, head, 0
	return nil
}
