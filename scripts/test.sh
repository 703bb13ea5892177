#!/usr/bin/env bash
# make test: vet, every test on SQLite, PostgreSQL and S3, and the
# cross-compiles. It starts what it needs and stops what it started.
#
#   PostgreSQL: $SHAREHUB_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres);
#               a local cluster that is installed but stopped is started.
#   S3:         a Versity gateway built with `go install` (once) and started for
#               this run alone on a free loopback port over a temp directory
#               (scripts/versitygw.sh); stopped when the run ends.
#
# With CI=true a missing PostgreSQL or S3 fails the run; otherwise the tests
# of that backend are skipped and say so loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

export CGO_ENABLED=0
: "${SHAREHUB_TEST_POSTGRES:=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
export SHAREHUB_TEST_POSTGRES

say() { printf '== %s\n' "$*" >&2; }

pg_up() {
	go run ./scripts/pgping "$SHAREHUB_TEST_POSTGRES" >/dev/null 2>&1
}

say "go vet"
go vet ./...

say "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
if [[ -n $unformatted ]]; then
	echo "gofmt needed on: $unformatted" >&2
	exit 1
fi

say "PostgreSQL"
if ! pg_up; then
	if command -v pg_lsclusters >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
		for v in $(ls /etc/postgresql); do
			pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || true
		done
		for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
	fi
fi
if pg_up; then
	say "PostgreSQL is up at ${SHAREHUB_TEST_POSTGRES%%\?*}"
elif [[ ${CI:-} == true ]]; then
	echo "PostgreSQL is not reachable at $SHAREHUB_TEST_POSTGRES and CI=true: failing" >&2
	exit 1
else
	say "WARNING: PostgreSQL not reachable: its tests will be SKIPPED"
fi

say "S3 (versitygw)"
# This run's own gateway (own port, directory and pid file), owned by this
# script's PID: the trap stops that one and no other, so runs in parallel
# do not stop each other's; one killed before its trap ran is stopped by
# the next start.
s3dir=""
cleanup() {
	if [[ -n $s3dir ]]; then scripts/versitygw.sh stop "$s3dir" || true; fi
}
trap cleanup EXIT
if s3line=$(scripts/versitygw.sh start --owner $$); then
	eval "$s3line"
	s3dir=$SHAREHUB_TEST_S3_DIR
	export SHAREHUB_TEST_S3 SHAREHUB_TEST_S3_DIR
	say "S3 gateway up: ${SHAREHUB_TEST_S3%%&*} (in $s3dir)"
elif [[ ${CI:-} == true ]]; then
	echo "could not start versitygw and CI=true: failing" >&2
	exit 1
else
	say "WARNING: no S3 gateway: S3 tests will be SKIPPED"
fi

say "Chromium and chromedriver (the licence verify page and web console tests drive them headless)"
if { ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; } || ! command -v chromedriver >/dev/null 2>&1; then
	sudo=""; [[ $(id -u) != 0 ]] && sudo="sudo"
	$sudo apt-get install -y chromium chromium-driver >/dev/null || { $sudo apt-get update >/dev/null && $sudo apt-get install -y chromium chromium-driver >/dev/null; }
fi

say "go test"
set +e
go test -count=1 -timeout 20m ./...
status=$?
set -e
if [[ $status != 0 ]]; then
	echo "go test failed" >&2
	exit "$status"
fi

say "fuzz (short)"
for target in $(scripts/fuzz-targets.sh); do
	pkg=${target%%:*} name=${target##*:}
	# A crash found by the fuzzer is written under testdata/fuzz and fails the
	# run. The fuzzing engine itself occasionally gives up on a busy machine
	# without an input ("fuzzing process hung or terminated unexpectedly"):
	# that gets one retry, and the output is shown either way.
	for attempt in 1 2; do
		if out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime 5s "$pkg" 2>&1); then
			break
		fi
		echo "$out" >&2
		if grep -q 'Failing input written to' <<<"$out" || [[ $attempt == 2 ]]; then
			echo "fuzz target $name in $pkg failed" >&2
			exit 1
		fi
		echo "== fuzz engine failed without an input for $name; retrying once" >&2
	done
done

say "cross-compile (CGO_ENABLED=0)"
for arch in amd64 arm64 loong64; do
	GOOS=linux GOARCH=$arch go build -o /dev/null ./cmd/sharehub
done
say "all green"
