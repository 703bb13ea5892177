#!/usr/bin/env bash
# Start or stop a throwaway Versity S3 gateway (versitygw) for the blob tests.
#
#   eval "$(scripts/versitygw.sh start)"   # sets SHAREHUB_TEST_S3
#   go test ./internal/blob/...
#   scripts/versitygw.sh stop
#
# start  installs versitygw $VGW_VERSION with `go install` if the binary is
#        missing or another version, starts it on a free loopback port over a
#        fresh temp directory, waits until it answers, records pid and
#        directory in a state file under ${TMPDIR:-/tmp}, and prints one line:
#        export SHAREHUB_TEST_S3='s3://sharehub-test?endpoint=...'
#        If a gateway from an earlier start is still running, it prints that
#        one's line instead.
# stop   stops that gateway and removes its directory (no-op if none).
# status prints the export line of the running gateway, or fails.
#
# Quiet on success: stdout carries only the export line; errors go to stderr.
set -euo pipefail

VGW_VERSION=v1.8.0
VGW_MODULE=github.com/versity/versitygw
BUCKET=sharehub-test
ACCESS=sharehubtest

tmp_root=${TMPDIR:-/tmp}
tmp_root=${tmp_root%/}
state="$tmp_root/sharehub-versitygw-$(id -u).state"

die() {
	echo "versitygw.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start|stop|status" >&2
	exit 2
}

# gobin prints where `go install` puts binaries: GOBIN, else the first
# GOPATH entry's bin.
gobin() {
	local b
	b=$(go env GOBIN)
	if [[ -z $b ]]; then
		b=$(go env GOPATH)
		b=${b%%:*}/bin
	fi
	printf '%s\n' "$b"
}

installed_version() {
	go version -m "$1" 2>/dev/null | awk -v m="$VGW_MODULE" '$1 == "mod" && $2 == m { print $3; exit }'
}

ensure_binary() {
	command -v go >/dev/null 2>&1 || die "go is not on PATH"
	local bin
	bin="$(gobin)/versitygw"
	if [[ ! -x $bin || "$(installed_version "$bin")" != "$VGW_VERSION" ]]; then
		echo "versitygw.sh: installing versitygw $VGW_VERSION (once; this takes a while)" >&2
		local log
		log=$(mktemp "$tmp_root/versitygw-install.XXXXXX")
		# Outside any module, so the repo's go.mod is not touched.
		if ! (cd "$tmp_root" && GO111MODULE=on go install "$VGW_MODULE/cmd/versitygw@$VGW_VERSION") >"$log" 2>&1; then
			cat "$log" >&2
			rm -f "$log"
			die "go install $VGW_MODULE/cmd/versitygw@$VGW_VERSION failed"
		fi
		rm -f "$log"
		[[ -x $bin ]] || die "go install succeeded but $bin is missing"
	fi
	printf '%s\n' "$bin"
}

# read_state sets pid, dir, spec from the state file; fails if there is none.
read_state() {
	pid='' dir='' spec=''
	[[ -f $state ]] || return 1
	local k v
	while IFS='=' read -r k v; do
		case $k in
		pid) pid=$v ;;
		dir) dir=$v ;;
		spec) spec=$v ;;
		esac
	done <"$state"
	[[ -n $pid && -n $dir ]]
}

# ours reports whether pid is alive and is a versitygw process.
ours() {
	local p=$1
	[[ $p =~ ^[0-9]+$ ]] || return 1
	kill -0 "$p" 2>/dev/null || return 1
	if [[ -r /proc/$p/cmdline ]]; then
		tr '\0' ' ' <"/proc/$p/cmdline" | grep -q versitygw
	else
		ps -p "$p" -o command= 2>/dev/null | grep -q versitygw
	fi
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

remove_dir() {
	# Only ever remove a directory this script made.
	case $1 in
	"$tmp_root"/sharehub-versitygw.*) rm -rf -- "$1" ;;
	esac
}

print_export() {
	printf "export SHAREHUB_TEST_S3='%s'\n" "$1"
}

stop_gateway() {
	if ! read_state; then
		rm -f "$state"
		return 0
	fi
	if ours "$pid"; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			ours "$pid" || break
			sleep 0.1
		done
		if ours "$pid"; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	remove_dir "$dir"
	rm -f "$state"
}

start_gateway() {
	if read_state && ours "$pid"; then
		print_export "$spec"
		return 0
	fi
	stop_gateway # clear a stale state file and its directory

	local bin secret
	bin=$(ensure_binary)
	secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	dir=$(mktemp -d "$tmp_root/sharehub-versitygw.XXXXXX")
	mkdir -p "$dir/root" "$dir/meta"

	local port up _
	for _ in 1 2 3 4 5 6 7 8; do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		port_in_use "$port" && continue
		# Credentials through the environment, not argv (ps shows argv).
		# --sidecar keeps metadata out of xattrs, which some tmpfs lack.
		ROOT_ACCESS_KEY_ID=$ACCESS ROOT_SECRET_ACCESS_KEY=$secret \
			"$bin" --port "127.0.0.1:$port" --quiet \
			posix --sidecar "$dir/meta" "$dir/root" \
			</dev/null >"$dir/log" 2>&1 &
		pid=$!
		up=0
		for _ in $(seq 1 150); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break # exited: port taken or bad flags; see log
			fi
			if port_in_use "$port"; then
				up=1
				break
			fi
			sleep 0.1
		done
		if [[ $up == 1 ]]; then
			spec="s3://$BUCKET?endpoint=127.0.0.1:$port&access_key=$ACCESS&secret_key=$secret&secure=false"
			umask 077
			printf 'pid=%s\ndir=%s\nspec=%s\n' "$pid" "$dir" "$spec" >"$state"
			print_export "$spec"
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	echo "versitygw.sh: versitygw did not start; last log:" >&2
	cat "$dir/log" >&2 || true
	remove_dir "$dir"
	exit 1
}

case ${1:-} in
start) start_gateway ;;
stop) stop_gateway ;;
status)
	if read_state && ours "$pid"; then
		print_export "$spec"
	else
		die "not running"
	fi
	;;
*) usage ;;
esac
