package main

import (
	"testing"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/testcert"
)

// writeTLSPair writes a self-signed certificate for 127.0.0.1 and its
// private key as PEM files NAME.pem and NAME.key in dir.
func writeTLSPair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, _ = testcert.Write(t, dir, name, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	return certFile, keyFile
}
