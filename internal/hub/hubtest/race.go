//go:build race

package hubtest

// The race detector makes the hub several times slower: a request that
// does real work (the sync tests' first run reads 100,000 records) needs
// more than the usual client timeout.
const clientTimeoutScale = 10
