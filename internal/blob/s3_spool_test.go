package blob_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/blob"
	"github.com/xiangyang-gov/sharehub/internal/blob/blobtest"
)

// A process killed during an S3 Put (OOM killer, SIGKILL after the
// shutdown timeout) leaves its spool file, up to MaxSize bytes, in the
// spool directory: its deferred remove never ran. Opening the store clears
// such leftovers, as the local directory does its .tmp, but only old ones
// of its own (another process may be spooling now; /tmp is shared).
func TestS3OpenRemovesStaleSpoolFiles(t *testing.T) {
	spool := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	files := map[string]bool{ // name: whether Open should remove it
		"sharehub-blob-1111": true,
		"sharehub-blob-2222": false, // fresh: a Put in flight elsewhere
		"other-program-3333": false, // old, but not ours
	}
	for name, stale := range files {
		p := filepath.Join(spool, name)
		if err := os.WriteFile(p, []byte("partial upload"), 0o600); err != nil {
			t.Fatal(err)
		}
		if stale || name == "other-program-3333" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	blobtest.S3().New(t, blob.Options{TempDir: spool})
	for name, stale := range files {
		_, err := os.Stat(filepath.Join(spool, name))
		if gone := os.IsNotExist(err); gone != stale {
			t.Errorf("%s: removed %v, want %v", name, gone, stale)
		}
	}
}
