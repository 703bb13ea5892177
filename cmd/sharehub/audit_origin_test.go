package main

import (
	"context"
	"strings"
	"testing"
)

// `audit verify` run with another --audit-origin than the hub's, and no
// --verifier-key, is a usage error naming the log's origin (exit 2), not a
// report that the log was tampered with (exit 1): the log is intact, only
// the keys were looked up under the wrong name.
func TestAuditVerifyUnderAnotherOrigin(t *testing.T) {
	clearEnv(t)
	ctx := context.Background()
	dir, _ := demoDataDir(t)
	code, out, errOut := cli(t, ctx, "audit", "verify", "--data-dir", dir, "--quiet", "--audit-origin", "sharehub.elsewhere/audit")
	if code != 2 || strings.Contains(out, "NOT verify") || !strings.Contains(errOut, "--audit-origin") || !strings.Contains(errOut, "sharehub.xiangyang.gov.cn/audit") {
		t.Fatalf("verify under another origin: exit %d\nstdout %q\nstderr %q\nwant exit 2 naming --audit-origin and the log's origin", code, out, errOut)
	}
	if code, out, errOut := cli(t, ctx, "audit", "verify", "--data-dir", dir, "--quiet"); code != 0 {
		t.Fatalf("verify under the log's origin: exit %d\n%s\n%s", code, out, errOut)
	}
}
