package audit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/audit"
	"github.com/xiangyang-gov/sharehub/internal/db"
	"github.com/xiangyang-gov/sharehub/internal/db/dbtest"
)

// Entries that wait while a batch commits are committed together in the
// next one (group commit), on both backends.
func TestGroupCommit(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var (
			mu      sync.Mutex
			sizes   []int
			entered = make(chan struct{})
			release = make(chan struct{})
			first   atomic.Bool
		)
		l, err := audit.Open(ctx, d, mustSigner(t), audit.Options{
			Origin: testOrigin, CheckpointEvery: time.Hour, Logger: quiet,
			OnBatch: func(size int, _ time.Duration) {
				mu.Lock()
				sizes = append(sizes, size)
				mu.Unlock()
				if first.CompareAndSwap(false, true) {
					close(entered)
					<-release // hold the writer while the others queue
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close(ctx)

		const n = 64
		var wg sync.WaitGroup
		errc := make(chan error, n)
		var started atomic.Int32
		add := func(i int) {
			defer wg.Done()
			started.Add(1)
			if _, err := l.Append(ctx, sampleEntry(i)); err != nil {
				errc <- err
			}
		}
		wg.Add(n)
		go add(0)
		<-entered
		for i := 1; i < n; i++ {
			go add(i)
		}
		for started.Load() < n {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // let them queue behind the held batch
		close(release)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		total, largest := 0, 0
		for _, s := range sizes {
			total += s
			largest = max(largest, s)
		}
		if total != n || largest < n/4 || len(sizes) > n/2 {
			t.Fatalf("batches %v: want %d entries, most of them in one batch", sizes, n)
		}
	})
}
