package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/audit"
)

// operatorMethod is the Method of the audit entries of changes made with
// the CLI on the hub's host, beside the API's GET, POST, ….
const operatorMethod = "CLI"

// operatorChange is one change the operator made with the CLI: making the
// first admin (bootstrap) or an auditor's principal and keys (auditor),
// which no API caller may do. They go into the audit log like an API call,
// so that the admins' and the auditors' own beginnings are on the record
// the auditors check (三员分立).
type operatorChange struct {
	Command   string   // e.g. "auditor key": the Route is "sharehub " + Command
	Status    int      // 201 made, 200 changed
	Resources []string // "kind:id", as the API notes them
	Start     time.Time
}

// record appends c to log and returns once it is committed. The entry's
// principal is "cli:" and the OS user who ran the command; its
// request hash covers the command and the resources (not the command
// line, which may hold a database password).
func (c operatorChange) record(ctx context.Context, log *audit.Log) error {
	now := time.Now()
	route := "sharehub " + c.Command
	var rid [8]byte
	_, _ = rand.Read(rid[:])
	_, err := log.Append(ctx, audit.Entry{
		Time:        now,
		RequestID:   "cli-" + hex.EncodeToString(rid[:]),
		PrincipalID: "cli:" + osUser(),
		Method:      operatorMethod,
		Route:       route,
		Resources:   c.Resources,
		Status:      c.Status,
		Rows:        1,
		Latency:     now.Sub(c.Start),
		RequestHash: sha256.Sum256([]byte(route + "\n" + strings.Join(c.Resources, "\n"))),
	})
	if err != nil {
		return fmt.Errorf("the change was made but its audit log entry was not written: %w", err)
	}
	return nil
}

// recordNewKey records c, the making of key keyID, and fails closed: when
// the entry cannot be written the key is revoked, so that no key the log
// does not show is handed out.
func (c operatorChange) recordNewKey(ctx context.Context, log *audit.Log, ex *exchange.Service, keyID string) error {
	err := c.record(ctx, log)
	if err == nil {
		return nil
	}
	if _, rerr := ex.RevokeKey(context.WithoutCancel(ctx), keyID); rerr != nil {
		return fmt.Errorf("%w; revoking key %s failed too: %v", err, keyID, rerr)
	}
	return fmt.Errorf("%w; key %s was revoked", err, keyID)
}

// osUser names who ran a command, as the system knows them (principal
// "cli:NAME" in what the CLI records).
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return fmt.Sprintf("uid-%d", os.Getuid())
}
