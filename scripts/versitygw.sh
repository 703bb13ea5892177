#!/usr/bin/env bash
# Start or stop a throwaway Versity S3 gateway (versitygw) for the blob tests.
#
#   eval "$(scripts/versitygw.sh start)"   # sets SHAREHUB_TEST_S3 and SHAREHUB_TEST_S3_DIR
#   go test ./internal/blob/...
#   scripts/versitygw.sh stop              # stops the gateway in $SHAREHUB_TEST_S3_DIR
#
# Every start makes a new gateway of its own: its own temp directory
# ${TMPDIR:-/tmp}/sharehub-versitygw.XXXXXX (data, log, pid file, spec), its
# own free loopback port and its own secret. It never reuses a gateway, so
# two `make test` runs, or a run and a gateway started by hand, do not share
# or stop each other's.
#
# start [--owner PID]
#        installs versitygw $VGW_VERSION with `go install` if the binary is
#        missing or another version (reused otherwise), starts a gateway,
#        waits until it answers and prints one line:
#        export SHAREHUB_TEST_S3='s3://sharehub-test?endpoint=...' SHAREHUB_TEST_S3_DIR='/tmp/sharehub-versitygw.XXXXXX'
#        With --owner PID (scripts/test.sh passes its own PID) the gateway
#        belongs to that process; a later start stops and removes the
#        gateways whose owner has died without stopping them (a killed run).
#        Gateways started without --owner are only stopped by `stop`.
# stop [DIR]
#        stops the gateway started in DIR (default $SHAREHUB_TEST_S3_DIR) and
#        removes DIR; only that gateway, and only if DIR is one this script
#        made. No-op if DIR is already gone.
# status [DIR]
#        prints the export line of the gateway in DIR if it runs, or fails.
#
# Quiet on success: stdout carries only the export line; errors go to stderr.
set -euo pipefail

VGW_VERSION=v1.8.0
VGW_MODULE=github.com/versity/versitygw
BUCKET=sharehub-test
ACCESS=sharehubtest
PREFIX=sharehub-versitygw.

tmp_root=${TMPDIR:-/tmp}
tmp_root=${tmp_root%/}

die() {
	echo "versitygw.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 start [--owner PID] | stop [DIR] | status [DIR]" >&2
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

install_binary() {
	local bin=$1
	# Another run may be installing right now: wait for it, then look again.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$tmp_root/sharehub-versitygw-install-$(id -u).lock"
		flock 9
		if [[ -x $bin && "$(installed_version "$bin")" == "$VGW_VERSION" ]]; then
			exec 9>&-
			return 0
		fi
	fi
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
	exec 9>&-
	[[ -x $bin ]] || die "go install succeeded but $bin is missing"
}

ensure_binary() {
	command -v go >/dev/null 2>&1 || die "go is not on PATH"
	local bin
	bin="$(gobin)/versitygw"
	if [[ ! -x $bin || "$(installed_version "$bin")" != "$VGW_VERSION" ]]; then
		install_binary "$bin"
	fi
	printf '%s\n' "$bin"
}

# is_gateway_dir reports whether $1 is a directory this script made and
# the current user owns.
is_gateway_dir() {
	local d=${1%/}
	[[ -n $d && -d $d && -O $d ]] || return 1
	case ${d##*/} in
	"$PREFIX"??????) return 0 ;;
	esac
	return 1
}

# running reports whether the gateway of directory $1 is alive: its pid file
# names a live versitygw process serving that directory (so a reused pid is
# never taken for it). The directory's name is unique, so it is matched by
# name: DIR given as another path to it still matches.
running() {
	local d=$1 p
	[[ -f $d/pid ]] || return 1
	p=$(<"$d/pid")
	[[ $p =~ ^[0-9]+$ ]] || return 1
	kill -0 "$p" 2>/dev/null || return 1
	local cmdline
	if [[ -r /proc/$p/cmdline ]]; then
		cmdline=$(tr '\0' ' ' <"/proc/$p/cmdline")
	else
		cmdline=$(ps -p "$p" -o command= 2>/dev/null) || return 1
	fi
	[[ $cmdline == *versitygw* && $cmdline == *"/${d##*/}/root"* ]]
}

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

print_export() {
	printf "export SHAREHUB_TEST_S3='%s' SHAREHUB_TEST_S3_DIR='%s'\n" "$1" "$2"
}

# stop_dir stops the gateway of directory $1 (if it runs) and removes $1.
stop_dir() {
	local d=${1%/}
	is_gateway_dir "$d" || return 0
	if running "$d"; then
		local p
		p=$(<"$d/pid")
		kill "$p" 2>/dev/null || true
		for _ in $(seq 1 50); do
			running "$d" || break
			sleep 0.1
		done
		if running "$d"; then
			kill -9 "$p" 2>/dev/null || true
		fi
	fi
	rm -rf -- "$d"
}

# sweep_orphans stops the gateways whose owner process has died without
# stopping them. Gateways without an owner, or whose owner lives, are left.
sweep_orphans() {
	local d o
	for d in "$tmp_root/$PREFIX"*; do
		is_gateway_dir "$d" || continue
		[[ -f $d/owner ]] || continue
		o=$(<"$d/owner")
		[[ $o =~ ^[0-9]+$ ]] || continue
		kill -0 "$o" 2>/dev/null && continue
		echo "versitygw.sh: stopping the gateway in $d (its owner $o is gone)" >&2
		stop_dir "$d"
	done
}

start_gateway() {
	local owner=''
	while [[ $# -gt 0 ]]; do
		case $1 in
		--owner)
			[[ ${2:-} =~ ^[0-9]+$ ]] || usage
			owner=$2
			shift 2
			;;
		*) usage ;;
		esac
	done
	sweep_orphans

	local bin secret dir
	bin=$(ensure_binary)
	secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	umask 077
	dir=$(mktemp -d "$tmp_root/${PREFIX}XXXXXX")
	if [[ -n $owner ]]; then
		printf '%s\n' "$owner" >"$dir/owner"
	fi
	mkdir -p "$dir/root" "$dir/meta"

	local port pid up _
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
		printf '%s\n' "$pid" >"$dir/pid"
		up=0
		for _ in $(seq 1 150); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break # exited: port taken or bad flags; see log
			fi
			if port_in_use "$port"; then
				# Another process may have taken the port just before ours
				# tried it: ours then exits at once. Still alive: it is ours.
				sleep 0.3
				kill -0 "$pid" 2>/dev/null && up=1
				break
			fi
			sleep 0.1
		done
		if [[ $up == 1 ]]; then
			local spec="s3://$BUCKET?endpoint=127.0.0.1:$port&access_key=$ACCESS&secret_key=$secret&secure=false"
			printf '%s\n' "$spec" >"$dir/spec"
			print_export "$spec" "$dir"
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	echo "versitygw.sh: versitygw did not start; last log:" >&2
	cat "$dir/log" >&2 || true
	rm -rf -- "$dir"
	exit 1
}

# dir_arg prints the gateway directory named by $1 or $SHAREHUB_TEST_S3_DIR.
dir_arg() {
	local d=${1:-${SHAREHUB_TEST_S3_DIR:-}}
	[[ -n $d ]] || die "which gateway? give its directory or set SHAREHUB_TEST_S3_DIR (start prints it)"
	printf '%s\n' "${d%/}"
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
start) start_gateway "$@" ;;
stop)
	[[ $# -le 1 ]] || usage
	d=$(dir_arg "${1:-}")
	if [[ -e $d ]] && ! is_gateway_dir "$d"; then
		die "$d is not a gateway directory made by this script; not touching it"
	fi
	stop_dir "$d"
	;;
status)
	[[ $# -le 1 ]] || usage
	d=$(dir_arg "${1:-}")
	if is_gateway_dir "$d" && running "$d" && [[ -f $d/spec ]]; then
		print_export "$(<"$d/spec")" "$d"
	else
		die "no gateway running in $d"
	fi
	;;
*) usage ;;
esac
