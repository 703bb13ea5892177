package datasync

import (
	"context"
	"errors"
)

// S3FilesConnector will read csv and xlsx files dropped under an S3 prefix,
// each file once (sync_files records what was taken). Not implemented yet:
// jobs of this kind fail with a clear error.
type S3FilesConnector struct{}

// Open reports that the connector is not available yet.
func (S3FilesConnector) Open(context.Context, SourceSpec, Request) (Reader, error) {
	return nil, errors.New("the s3files source is not implemented in this build")
}
