package licence_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
	"github.com/xiangyang-gov/sharehub/licence"
)

// BenchmarkImport imports LICENCE_BENCH_ROWS (default 20000) generated
// licences from CSV, sealed, on each backend, and then loads the same
// rows with the raw driver (COPY on PostgreSQL, prepared inserts in one
// transaction on SQLite) into a copy of the tables, to report the ratio:
//
//	LICENCE_BENCH_ROWS=200000 go test ./licence -run XXX -bench Import -benchtime 1x
func BenchmarkImport(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("LICENCE_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	for _, backend := range dbtest.Backends {
		b.Run(string(backend), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				d := dbtest.Open(b, backend)
				f := newFixture(b, d)
				path := benchFile(b, f, n)
				b.StartTimer()
				start := time.Now()
				rep, err := f.svc.Import(context.Background(), path, licence.ImportOptions{By: importer, Commit: true})
				if err != nil || rep.Created != n {
					b.Fatalf("import: %v %+v", err, rep)
				}
				took := time.Since(start)
				b.StopTimer()
				raw := rawLoad(b, d, n)
				b.ReportMetric(float64(n)/took.Seconds(), "rows/s")
				b.ReportMetric(float64(n)/raw.Seconds(), "raw-rows/s")
				b.ReportMetric(raw.Seconds()/took.Seconds(), "ratio")
			}
		})
	}
}

func benchFile(tb testing.TB, f *fixture, n int) string {
	var types []licence.Type
	for _, name := range []string{"居民身份证", "结婚证", "营业执照", "食品经营许可证", "机动车驾驶证"} {
		types = append(types, f.types[name])
	}
	codes := map[string]string{"xy-gaj": "11420600000000027M", "xy-mzj": "11420600000000035G", "xy-scjgj": "11420600000000078X"}
	var buf bytes.Buffer
	if err := licence.Generate(&buf, licence.GenerateOptions{Count: n, Seed: 11, Types: types, IssuerCode: func(id string) string { return codes[id] }}); err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "bench.csv")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// rawLoad copies the imported rows into fresh tables of the same shape
// with the raw driver: what the import would cost with no parsing,
// validation, JSON or sealing.
func rawLoad(tb testing.TB, d *db.DB, n int) time.Duration {
	ctx := context.Background()
	type row struct {
		l []any
		v []any
	}
	rs, err := d.R.QueryContext(ctx, `SELECT l.id, l.type_code, l.number, l.issuer_id, l.holder_name, l.holder_id_type, l.holder_id, l.status, l.version, l.valid_until, l.updated_at, l.holder_key,
		v.event, v.at, v.by_id, v.reason, v.digest, v.doc, v.batch_id, v.batch_index FROM licences l JOIN licence_versions v ON v.licence_id = l.id`)
	if err != nil {
		tb.Fatal(err)
	}
	var rows []row
	for rs.Next() {
		var (
			id, tc, num, iss, hn, ht, hid, st, vu, ev, by, reason, dg, doc, batch string
			ver, upd, at, idx, hk                                                 int64
		)
		if err := rs.Scan(&id, &tc, &num, &iss, &hn, &ht, &hid, &st, &ver, &vu, &upd, &hk, &ev, &at, &by, &reason, &dg, &doc, &batch, &idx); err != nil {
			tb.Fatal(err)
		}
		rows = append(rows, row{l: []any{id, tc, num, iss, hn, ht, hid, st, ver, vu, upd, hk}, v: []any{id, ver, ev, at, by, reason, dg, doc, batch, idx}})
	}
	rs.Close()
	if len(rows) != n {
		tb.Fatalf("%d rows to load, want %d", len(rows), n)
	}
	for _, q := range []string{
		`CREATE TABLE raw_licences AS SELECT * FROM licences WHERE 1 = 0`,
		`CREATE TABLE raw_versions AS SELECT * FROM licence_versions WHERE 1 = 0`,
		`CREATE UNIQUE INDEX raw_licences_pk ON raw_licences(id)`,
		`CREATE UNIQUE INDEX raw_licences_num ON raw_licences(type_code, number)`,
		`CREATE INDEX raw_licences_holder ON raw_licences(holder_key)`,
		`CREATE UNIQUE INDEX raw_versions_pk ON raw_versions(licence_id, version)`,
	} {
		if _, err := d.W.ExecContext(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
	lcols := []string{"id", "type_code", "number", "issuer_id", "holder_name", "holder_id_type", "holder_id", "status", "version", "valid_until", "updated_at", "holder_key"}
	vcols := []string{"licence_id", "version", "event", "at", "by_id", "reason", "digest", "doc", "batch_id", "batch_index"}
	start := time.Now()
	if d.Dialect == db.Postgres {
		conn, err := d.W.Conn(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		defer conn.Close()
		err = conn.Raw(func(dc any) error {
			pc := dc.(*stdlib.Conn).Conn()
			tx, err := pc.Begin(ctx)
			if err != nil {
				return err
			}
			ls, vs := make([][]any, len(rows)), make([][]any, len(rows))
			for i, r := range rows {
				ls[i], vs[i] = r.l, r.v
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_licences"}, lcols, pgx.CopyFromRows(ls)); err != nil {
				return err
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_versions"}, vcols, pgx.CopyFromRows(vs)); err != nil {
				return err
			}
			return tx.Commit(ctx)
		})
		if err != nil {
			tb.Fatal(err)
		}
		return time.Since(start)
	}
	tx, err := d.W.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	insL, _ := tx.PrepareContext(ctx, `INSERT INTO raw_licences (`+join(lcols)+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	insV, _ := tx.PrepareContext(ctx, `INSERT INTO raw_versions (`+join(vcols)+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	for _, r := range rows {
		if _, err := insL.ExecContext(ctx, r.l...); err != nil {
			tb.Fatal(err)
		}
		if _, err := insV.ExecContext(ctx, r.v...); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

func join(cols []string) string {
	s := ""
	for i, c := range cols {
		if i > 0 {
			s += ", "
		}
		s += c
	}
	return fmt.Sprint(s)
}
