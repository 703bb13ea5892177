package seal

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// The benchmarks compare the hub's in-process Sign and Verify (through
// the Service, on SQLite, with the usage log running) with raw
// crypto/ed25519 on the same payload: the document statement that is the
// JWS payload. BenchmarkRawEd25519SignInput and ...VerifyInput sign the
// whole JWS signing input (header.payload) instead, to separate the cost
// of the larger signed message from the cost of the JWS machinery.
// BENCHMARKS.md "## Seals" has the commands and figures.

type benchFixture struct {
	h       *testHub
	sealID  string
	by      *exchange.Principal
	doc     Document
	jws     []byte
	stmt    []byte // the JWS payload: the statement
	input   []byte // the JWS signing input of jws's signature
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	sigStmt []byte
	sigIn   []byte
}

func newBenchFixture(b *testing.B) *benchFixture {
	b.Helper()
	d := dbtest.Open(b, db.SQLite)
	h := newTestHub(b, d)
	org := h.org(b, "襄阳市政务服务和大数据管理局")
	s := h.seal(b, org, KindOfficial, AlgEd25519)
	f := &benchFixture{h: h, sealID: s.ID, by: keeper(org), doc: testDoc("基准测试文件")}
	f.jws = mustSign(b, h, f.by, s.ID, SignRequest{Document: f.doc, Purpose: "性能测试"})
	f.stmt = appendStatement(nil, &f.doc)
	j, err := parseJWS(f.jws)
	if err != nil {
		b.Fatal(err)
	}
	f.input = append(append(append([]byte{}, j.sigs[0].protectedB64...), '.'), j.payloadB64...)
	st, _ := h.svc.state(context.Background(), s.ID)
	k, err := h.svc.signerOf(context.Background(), st)
	if err != nil {
		b.Fatal(err)
	}
	f.priv = k.ed
	f.pub = k.ed.Public().(ed25519.PublicKey)
	f.sigStmt = ed25519.Sign(f.priv, f.stmt)
	f.sigIn = ed25519.Sign(f.priv, f.input)
	return f
}

// reportCPU reports the process CPU time per operation since start, a
// figure that other programs competing for the CPUs inflate far less than
// the wall-clock ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkSign(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	req := SignRequest{Document: f.doc, Purpose: "性能测试"}
	b.SetBytes(int64(len(f.stmt)))
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	for b.Loop() {
		if _, err := f.h.svc.Sign(ctx, f.by, f.sealID, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawEd25519Sign(b *testing.B) {
	f := newBenchFixture(b)
	b.SetBytes(int64(len(f.stmt)))
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	for b.Loop() {
		ed25519.Sign(f.priv, f.stmt)
	}
}

func BenchmarkRawEd25519SignInput(b *testing.B) {
	f := newBenchFixture(b)
	b.SetBytes(int64(len(f.stmt)))
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	for b.Loop() {
		ed25519.Sign(f.priv, f.input)
	}
}

func BenchmarkVerify(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	b.SetBytes(int64(len(f.stmt)))
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	for b.Loop() {
		res, err := f.h.svc.Verify(ctx, f.jws, nil)
		if err != nil || !res.Valid {
			b.Fatal(res, err)
		}
	}
}

func BenchmarkRawEd25519Verify(b *testing.B) {
	f := newBenchFixture(b)
	b.SetBytes(int64(len(f.stmt)))
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	for b.Loop() {
		if !ed25519.Verify(f.pub, f.stmt, f.sigStmt) {
			b.Fatal("raw verify failed")
		}
	}
}

func BenchmarkRawEd25519VerifyInput(b *testing.B) {
	f := newBenchFixture(b)
	b.SetBytes(int64(len(f.stmt)))
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	for b.Loop() {
		if !ed25519.Verify(f.pub, f.input, f.sigIn) {
			b.Fatal("raw verify failed")
		}
	}
}

// BenchmarkVerifyOffline is Verify with only the published JWKS.
func BenchmarkVerifyOffline(b *testing.B) {
	f := newBenchFixture(b)
	jwks, err := f.h.svc.JWKS(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ks, err := ParseJWKS(jwks)
	if err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(nil, ks)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(f.stmt)))
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	for b.Loop() {
		res, err := v.Verify(f.jws, nil)
		if err != nil || !res.Valid {
			b.Fatal(res, err)
		}
	}
}

// The paired benchmarks alternate blocks of hub and raw operations inside
// one benchmark, so that both see the same machine (other programs' load
// moves both alike), and report rate ratios raw-ns/hub-ns. In
// BenchmarkSignPaired each hub block is followed by FlushUsage, timed
// apart: "rate-ratio" is Sign's in-process path, "rate-ratio-with-usage"
// also counts the database write of the block's usage records, and the
// raw block runs with the usage writer idle.

const pairedBlock = 2000 // one full usage batch

func BenchmarkSignPaired(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	req := SignRequest{Document: f.doc, Purpose: "性能测试"}
	var hub, flush, raw time.Duration
	for b.Loop() {
		t0 := time.Now()
		for range pairedBlock {
			if _, err := f.h.svc.Sign(ctx, f.by, f.sealID, req); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		if err := f.h.svc.FlushUsage(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		for range pairedBlock {
			ed25519.Sign(f.priv, f.stmt)
		}
		hub, flush, raw = hub+t1.Sub(t0), flush+t2.Sub(t1), raw+time.Since(t2)
	}
	reportPaired(b, pairedBlock, hub, raw)
	b.ReportMetric(float64(flush.Nanoseconds())/float64(b.N)/pairedBlock, "usage-write-ns/op")
	b.ReportMetric(float64(raw)/float64(hub+flush), "rate-ratio-with-usage")
}

func BenchmarkVerifyPaired(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	const block = pairedBlock / 4
	var hub, raw time.Duration
	for b.Loop() {
		t0 := time.Now()
		for range block {
			if res, err := f.h.svc.Verify(ctx, f.jws, nil); err != nil || !res.Valid {
				b.Fatal(res, err)
			}
		}
		t1 := time.Now()
		for range block {
			if !ed25519.Verify(f.pub, f.stmt, f.sigStmt) {
				b.Fatal("raw verify failed")
			}
		}
		hub, raw = hub+t1.Sub(t0), raw+time.Since(t1)
	}
	reportPaired(b, block, hub, raw)
}

func reportPaired(b *testing.B, block int, hub, raw time.Duration) {
	n := float64(b.N) * float64(block)
	b.ReportMetric(float64(hub.Nanoseconds())/n, "hub-ns/op")
	b.ReportMetric(float64(raw.Nanoseconds())/n, "raw-ns/op")
	b.ReportMetric(float64(raw)/float64(hub), "rate-ratio")
	b.ReportMetric(0, "ns/op")
}
