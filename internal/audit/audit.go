// Package audit is the hub's tamper-evident audit log.
//
// Every data call appends one Entry. Entries are the leaves of an RFC 6962
// Merkle tree (github.com/transparency-dev/merkle); the log publishes signed
// checkpoints in the C2SP signed-note format, serves inclusion and
// consistency proofs, and Verify recomputes everything from the database and
// names the first entry that does not match.
//
// Append is fail-closed and group-committed: it returns only once its entry
// is durably committed, and one writer goroutine commits whatever entries are
// waiting in one transaction. On PostgreSQL several replicas may share one
// log: each batch takes a transaction-scoped advisory lock and numbers its
// entries after the last committed one, so the log has one gapless order.
//
// Tables (migration 0002_audit): audit_entries (one row per leaf, with its
// leaf hash), audit_resources (search index by resource), audit_nodes (hashes
// of perfect subtrees of 256 leaves and more) and audit_checkpoints.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// lockKey serialises appends and checkpoints across replicas on PostgreSQL.
const lockKey = 0x5348_4155_4449_54 // "SHAUDIT"

// commitTimeout bounds one batch transaction, so that a hung database fails
// the waiting requests (closed) instead of holding them forever.
const commitTimeout = 30 * time.Second

// Options configure a Log. The zero value of each field picks its default.
type Options struct {
	// Origin is the first line of every checkpoint, naming the log, e.g.
	// "sharehub.xiangyang.gov.cn/audit". Default: the signer's name.
	Origin string
	// MaxBatch is the most entries committed in one transaction. Default 1024.
	MaxBatch int
	// CheckpointEvery is how often a checkpoint is written while the tree
	// grows. Default 1s.
	CheckpointEvery time.Duration
	// Logger receives failures and notable events. Default slog.Default().
	Logger *slog.Logger

	// The hooks below run on the log's writer goroutine: they must return
	// quickly and must not call the Log.

	// OnBatch, when set, is called after each committed batch with its
	// number of entries and the time from the start of its transaction to
	// the commit: feed it to "audit append batch size" and "latency" metrics.
	OnBatch func(size int, dur time.Duration)
	// OnBatchError, when set, is called when a batch fails to commit; every
	// Append in it returned err.
	OnBatchError func(size int, err error)
	// OnCheckpoint, when set, is called after a checkpoint is stored.
	OnCheckpoint func(cp Checkpoint)
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	db     *db.DB
	signer note.Signer
	opts   Options
	log    *slog.Logger

	mu     sync.RWMutex // guards closed and sends on queue
	closed bool
	queue  chan *request
	cpReq  chan chan checkpointResult
	done   chan struct{} // closed when the writer goroutine has finished
	err    error         // the writer's final error, read after done

	// Owned by the writer goroutine.
	inserts inserts
	tree    *compact.Range // the committed tree as this process last saw it
	dirty   bool           // entries appended since this writer's last checkpoint
	leafBuf []byte
}

type request struct {
	e      Entry
	result chan appendResult // buffered: the writer never blocks on it
}

type appendResult struct {
	index uint64
	err   error
}

type checkpointResult struct {
	cp  Checkpoint
	err error
}

// Open starts the log on d, whose schema must include migration 0002. The
// signer signs checkpoints (see keys.NoteSigner). Close the log to flush it.
func Open(ctx context.Context, d *db.DB, signer note.Signer, opts Options) (*Log, error) {
	if d == nil || signer == nil {
		return nil, errors.New("audit: Open needs a database and a checkpoint signer")
	}
	if opts.Origin == "" {
		opts.Origin = signer.Name()
	}
	// A signed note is UTF-8 text with no control characters but its line
	// breaks (C2SP signed-note): an origin with a carriage return or another
	// control character would make checkpoints no verifier accepts.
	if !utf8.ValidString(opts.Origin) || strings.IndexFunc(opts.Origin, unicode.IsControl) >= 0 {
		return nil, fmt.Errorf("audit: the checkpoint origin %q must be one line of UTF-8 text without control characters", opts.Origin)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Log{
		db:      d,
		signer:  signer,
		opts:    opts,
		log:     opts.Logger.With("component", "audit"),
		queue:   make(chan *request, opts.MaxBatch),
		cpReq:   make(chan chan checkpointResult),
		done:    make(chan struct{}),
		inserts: newInserts(d),
	}
	size, err := storedSize(ctx, d.R)
	if err != nil {
		return nil, err
	}
	// Verify holds every checkpoint of a log to one origin: under another,
	// the log's next checkpoint would make it fail for good.
	if origin, err := StoredOrigin(ctx, d); err != nil {
		return nil, err
	} else if origin != "" && origin != opts.Origin {
		return nil, fmt.Errorf("audit: this log's checkpoints name it %q, not %q: a log keeps its origin", origin, opts.Origin)
	}
	if l.tree, err = loadTree(ctx, d.R, size); err != nil {
		return nil, fmt.Errorf("audit: load tree of size %d: %w", size, err)
	}
	go l.run()
	return l, nil
}

// Append records e, assigning its Index, and returns that index once the
// entry is durably committed. Before storing, e is normalised: time in UTC
// at microsecond precision, latency in microseconds, text fields made valid
// UTF-8 without NUL and cut to 4 KiB, empty resources dropped and newlines
// in resources replaced by U+FFFD.
//
// Any error means the entry may not be in the log: the caller must fail
// closed (respond 503). Errors are errs.Invalid (no time), errs.Unavailable
// (log closed, database failure, ctx done). If ctx ends while the batch is
// committing, the entry may still be committed.
func (l *Log) Append(ctx context.Context, e Entry) (uint64, error) {
	if e.Time.IsZero() {
		return 0, errs.Invalid("audit entry has no time")
	}
	normalize(&e)
	r := &request{e: e, result: make(chan appendResult, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, errs.Unavailable(nil, "audit log is closed")
	}
	select {
	case l.queue <- r:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return 0, errs.Unavailable(ctx.Err(), "audit log: request ended before its entry was queued")
	}
	select {
	case res := <-r.result:
		return res.index, res.err
	case <-ctx.Done():
		return 0, errs.Unavailable(ctx.Err(), "audit log: request ended before its entry was committed")
	}
}

// Close stops accepting entries, commits every queued entry, writes a final
// checkpoint and stops the writer. Later Appends fail with errs.Unavailable.
// It returns the final checkpoint's error, if any, or ctx's if ctx ends
// first (the writer then still finishes in the background).
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	select {
	case <-l.done:
		return l.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Size returns the number of committed entries, by every replica.
func (l *Log) Size(ctx context.Context) (uint64, error) {
	return storedSize(ctx, l.db.R)
}
