package audit

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/errs"
)

// Checkpoint is a signed statement of the log's size and root hash.
type Checkpoint struct {
	Size uint64
	Root []byte
	// Time is when the hub stored the checkpoint. It is not part of the
	// signed note.
	Time time.Time
	// Note is the full C2SP signed note: the origin line, the size in
	// decimal, the base64 root hash, a blank line and signature lines.
	Note []byte
}

// Checkpoint returns the latest stored checkpoint, first writing one when
// the log holds entries beyond it (or when there is none yet). Errors are
// errs.Unavailable.
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	size, err := l.Size(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	latest, ok, err := latestCheckpoint(ctx, l.db.R)
	if err != nil {
		return Checkpoint{}, err
	}
	if ok && latest.Size >= size {
		return latest, nil
	}
	reply := make(chan checkpointResult, 1)
	select {
	case l.cpReq <- reply:
	case <-l.done:
		if ok {
			return latest, nil
		}
		return Checkpoint{}, errs.Unavailable(nil, "audit log is closed")
	case <-ctx.Done():
		return Checkpoint{}, errs.Unavailable(ctx.Err(), "audit checkpoint: request ended")
	}
	select {
	case res := <-reply:
		return res.cp, res.err
	case <-ctx.Done():
		return Checkpoint{}, errs.Unavailable(ctx.Err(), "audit checkpoint: request ended")
	}
}

// checkpointNow runs on the writer goroutine. Under the log's lock it signs
// and stores a checkpoint of the committed tree, unless the latest stored
// one already covers it or (when !force) is younger than CheckpointEvery,
// as happens when another replica wrote it. It returns the latest
// checkpoint either way.
func (l *Log) checkpointNow(force bool) (Checkpoint, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	var (
		cp   Checkpoint
		made bool
	)
	err := l.db.Tx(ctx, func(tx *sql.Tx) error {
		size, err := l.lockAndSize(ctx, tx)
		if err != nil {
			return err
		}
		if err := l.syncTree(ctx, tx, size); err != nil {
			return err
		}
		latest, ok, err := latestCheckpoint(ctx, tx)
		if err != nil {
			return err
		}
		now := time.Now()
		if ok && (latest.Size >= size || !force && now.Sub(latest.Time) < l.opts.CheckpointEvery) {
			cp = latest
			return nil
		}
		if ok && now.Before(latest.Time) {
			// Another replica's clock is ahead: keep stored times in the
			// order of sizes, which Verify holds checkpoints to.
			now = latest.Time
		}
		root, err := rootOf(l.tree)
		if err != nil {
			return err
		}
		msg, err := note.Sign(&note.Note{Text: checkpointText(l.opts.Origin, size, root)}, l.signer)
		if err != nil {
			return fmt.Errorf("sign checkpoint: %w", err)
		}
		cp = Checkpoint{Size: size, Root: root, Time: time.UnixMicro(now.UnixMicro()).UTC(), Note: msg}
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, root, at, note) VALUES ($1, $2, $3, $4)`,
			int64(size), root, cp.Time.UnixMicro(), string(msg))
		made = err == nil
		return db.Interpret(err, "audit checkpoint")
	})
	if err != nil {
		err = errs.Unavailable(err, "audit checkpoint not written")
		l.log.Error("audit checkpoint failed", "err", err)
		return Checkpoint{}, err
	}
	l.dirty = cp.Size < l.tree.End()
	if made && l.opts.OnCheckpoint != nil {
		l.opts.OnCheckpoint(cp)
	}
	return cp, nil
}

func latestCheckpoint(ctx context.Context, q querier) (Checkpoint, bool, error) {
	var (
		cp       Checkpoint
		size, at int64
		noteText string
	)
	err := q.QueryRowContext(ctx, `SELECT size, root, at, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1`).
		Scan(&size, &cp.Root, &at, &noteText)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, db.Interpret(err, "audit checkpoint")
	}
	cp.Size, cp.Time, cp.Note = uint64(size), time.UnixMicro(at).UTC(), []byte(noteText)
	return cp, true, nil
}

// StoredOrigin returns the origin line of the latest checkpoint stored in
// d: the name the log's checkpoints are signed under, which Open and
// Verify hold every checkpoint to. It is "" when there is no checkpoint
// or its note is malformed (Verify reports that).
func StoredOrigin(ctx context.Context, d *db.DB) (string, error) {
	cp, ok, err := latestCheckpoint(ctx, d.R)
	if err != nil || !ok {
		return "", err
	}
	origin, _, _, err := parseCheckpointText(string(cp.Note))
	if err != nil {
		return "", nil
	}
	return origin, nil
}

// checkpointText is the body of a C2SP checkpoint: origin, size, root.
func checkpointText(origin string, size uint64, root []byte) string {
	return origin + "\n" + strconv.FormatUint(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root) + "\n"
}

// OpenCheckpoint checks a signed checkpoint note against verifiers and the
// expected origin line and returns its size and root (Time is zero: it is
// not part of the note). It is what an auditor does with a published
// checkpoint before checking proofs against its root.
func OpenCheckpoint(msg []byte, origin string, verifiers note.Verifiers) (Checkpoint, error) {
	o, size, root, err := openCheckpoint(msg, verifiers)
	if err != nil {
		return Checkpoint{}, err
	}
	if o != origin {
		return Checkpoint{}, errs.Invalid("checkpoint is for log %q, not %q", o, origin)
	}
	return Checkpoint{Size: size, Root: root, Note: msg}, nil
}

func openCheckpoint(msg []byte, verifiers note.Verifiers) (origin string, size uint64, root []byte, err error) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		return "", 0, nil, errs.Invalid("checkpoint signature does not verify: %v", err)
	}
	origin, size, root, err = parseCheckpointText(n.Text)
	return origin, size, root, err
}

// parseCheckpointText reads origin, size and root from a checkpoint body.
// Extension lines after the root, which C2SP allows, are ignored.
func parseCheckpointText(text string) (origin string, size uint64, root []byte, err error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return "", 0, nil, errs.Invalid("checkpoint is malformed: want origin, size and root lines")
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return "", 0, nil, errs.Invalid("checkpoint is malformed: size %q", lines[1])
	}
	root, err = base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return "", 0, nil, errs.Invalid("checkpoint is malformed: root %q", lines[2])
	}
	return lines[0], size, root, nil
}
