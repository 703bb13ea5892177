package datasync

import (
	"context"
	"fmt"
	"io"
)

// Record is one source record: source field names to values as decoded
// (JSON numbers stay json.Number so nothing is rounded).
type Record map[string]any

// Page is a batch of records the source hands over together. A run stages
// a page and its Checkpoint in one transaction, so after a crash the run
// continues from the page after the last one staged.
type Page struct {
	Records []Record
	// Checkpoint is where reading continues after this page (opaque to
	// the runner; the same source kind understands it in Request.Checkpoint).
	Checkpoint string
	// Position names the page in the source for row errors ("page 3").
	Position string
	// Total is the record count the source reports, -1 when unknown.
	Total int64
	// Taken, from file sources, is the file this page finished; it is
	// recorded with the page so the file is never read again.
	Taken *TakenFile
}

// Request says what a source should read.
type Request struct {
	// Since is the incremental lower bound (inclusive), already moved back
	// by the overlap; empty for full refreshes and first runs.
	Since string
	// CursorField is the field Since applies to.
	CursorField string
	// Checkpoint resumes an interrupted run; empty to start afresh.
	Checkpoint string
	// Full is set for a full refresh: what the source leaves out is
	// marked deleted, so an answer that may be an error must not pass
	// for an empty one.
	Full bool
	// JobID and RunID name the job and run reading.
	JobID, RunID string
}

// Reader yields pages until io.EOF (returned as is, not wrapped).
type Reader interface {
	Next(ctx context.Context) (Page, error)
	Close() error
}

// Connector opens a source. Add a source kind by implementing it and
// naming it in Service.connectors.
type Connector interface {
	Open(ctx context.Context, spec SourceSpec, req Request) (Reader, error)
}

// ConnectorFunc adapts a function to Connector.
type ConnectorFunc func(ctx context.Context, spec SourceSpec, req Request) (Reader, error)

// Open calls f.
func (f ConnectorFunc) Open(ctx context.Context, spec SourceSpec, req Request) (Reader, error) {
	return f(ctx, spec, req)
}

// SourceError is a failure of the upstream system (as opposed to the hub):
// an HTTP status, a timeout, a body that is not the expected JSON. Runs
// retry them with backoff.
type SourceError struct {
	Position string // where in the source, e.g. "page 3"
	Status   int    // HTTP status, 0 if none
	Err      error
}

func (e *SourceError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: upstream answered HTTP %d: %v", e.Position, e.Status, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Position, e.Err)
}

func (e *SourceError) Unwrap() error { return e.Err }

var errDone = io.EOF

// isDone reports the end of a source's pages: io.EOF itself, as io.Reader
// has it, never an error wrapping it. A connection the upstream closed
// before answering is "Get …: EOF"; taken for the end, it made a full
// refresh mark every record it had not read yet deleted.
func isDone(err error) bool { return err == errDone }
