//go:build !race

package hubtest

const clientTimeoutScale = 1
