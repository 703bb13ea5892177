package hub

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// checkAddr checks a listen address the way net.Listen will use it: host:port
// with a port from 0 to 65535 (or a service name such as http). The host is
// left to the resolver. example is shown in the message.
func checkAddr(addr, example string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, e.g. %s (%v)", example, err)
	}
	if port == "" {
		return fmt.Errorf("want host:port, e.g. %s; %q has no port", example, addr)
	}
	if strings.Trim(port, "0123456789") == "" {
		if n, err := strconv.Atoi(port); err != nil || n > 65535 {
			return fmt.Errorf("port %s is out of range; want host:port with a port from 0 to 65535, e.g. %s", port, example)
		}
		return nil
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("port %q is neither a number from 0 to 65535 nor a known service name; want host:port, e.g. %s", port, example)
	}
	return nil
}

// readFile reads a file a setting names, with plain messages for the usual
// mistakes: not there, a directory, not readable.
func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("file %s not found", path)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("file %s cannot be reached: permission denied", path)
	case err != nil:
		return nil, fmt.Errorf("file %s: %v", path, plainPathError(err))
	case st.IsDir():
		return nil, fmt.Errorf("%s is a directory, not a file", path)
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("file %s is not readable: permission denied", path)
	case err != nil:
		return nil, fmt.Errorf("file %s cannot be read: %v", path, plainPathError(err))
	}
	return b, nil
}

// plainPathError drops the "op path:" prefix of a *fs.PathError, which the
// caller's message already names.
func plainPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkTLS checks --tls-cert and --tls-key: both or neither, each a readable
// file, the certificate PEM, the key PEM and the key the certificate's.
// It passes each problem to add with the flag it is about.
func checkTLS(certPath, keyPath string, add func(flag string, err error)) {
	if certPath == "" && keyPath == "" {
		return
	}
	if certPath == "" || keyPath == "" {
		given := "tls-cert"
		if certPath == "" {
			given = "tls-key"
		}
		add(given, errors.New("give both --tls-cert and --tls-key, or neither: HTTPS needs the certificate and its private key"))
	}
	var certPEM, keyPEM []byte
	if certPath != "" {
		b, err := readFile(certPath)
		if err != nil {
			add("tls-cert", err)
		} else if err := checkCertPEM(certPath, b); err != nil {
			add("tls-cert", err)
		} else {
			certPEM = b
		}
	}
	if keyPath != "" {
		b, err := readFile(keyPath)
		if err != nil {
			add("tls-key", err)
		} else if !hasPEMKey(b) {
			add("tls-key", fmt.Errorf("%s holds no PEM private key (want a -----BEGIN ... PRIVATE KEY----- block)", keyPath))
		} else {
			keyPEM = b
		}
	}
	if certPEM != nil && keyPEM != nil {
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			msg := strings.TrimPrefix(err.Error(), "tls: ")
			if strings.Contains(msg, "does not match") {
				add("tls-key", fmt.Errorf("%s is not the private key of the certificate in %s", keyPath, certPath))
			} else {
				add("tls-key", fmt.Errorf("%s: %s", keyPath, msg))
			}
		}
	}
}

// checkCertPEM checks that b, read from path, holds at least one PEM
// certificate and that each certificate block parses.
func checkCertPEM(path string, b []byte) error {
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("%s: certificate %d does not parse: %v", path, n+1, err)
		}
		// The first is the hub's own: every client would refuse it expired.
		if n == 0 && time.Now().After(cert.NotAfter) {
			return fmt.Errorf("the certificate in %s expired on %s", path, cert.NotAfter.UTC().Format("2006-01-02 15:04 MST"))
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s holds no PEM certificate (want a -----BEGIN CERTIFICATE----- block)", path)
	}
	return nil
}

func hasPEMKey(b []byte) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if blk.Type == "PRIVATE KEY" || strings.HasSuffix(blk.Type, " PRIVATE KEY") {
			return true
		}
	}
}
