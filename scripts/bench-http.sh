#!/usr/bin/env bash
# HTTP load benchmark: an authenticated, audited GET that reads one row
# (GET /v1/departments/xy with a department app's key) against a bare
# net/http handler returning the same bytes from memory, side by side, with
# wrk on 127.0.0.1. Needs wrk (apt-get install wrk).
#
#   scripts/bench-http.sh [sqlite|postgres] [duration]
#
# For postgres set SHAREHUB_BENCH_POSTGRES to an empty database URL (add
# ?sslmode=disable on one host: otherwise pgx negotiates TLS with a
# cluster that has SSL on, which costs a fifth of the hub's CPU here).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
dur=${2:-10s}
conns=${CONNS:-64}
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/sharehub" ./cmd/sharehub
CGO_ENABLED=0 go build -o "$tmp/barehttp" ./scripts/barehttp

args=(--data-dir "$tmp/data" --listen 127.0.0.1:18080 --log-level error)
if [[ $backend == postgres ]]; then
	: "${SHAREHUB_BENCH_POSTGRES:?set SHAREHUB_BENCH_POSTGRES}"
	export SHAREHUB_MASTER_KEY=$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	"$tmp/sharehub" bootstrap --database "$SHAREHUB_BENCH_POSTGRES" --data-dir "$tmp/data" --department-id xy \
		--department-code 11420600000000019T --department-name 襄阳市人民政府 >"$tmp/boot.txt"
	key=$(sed -n 2p "$tmp/boot.txt")
	"$tmp/sharehub" serve "${args[@]}" --database "$SHAREHUB_BENCH_POSTGRES" --blobs "file:$tmp/data/blobs" >"$tmp/hub.log" 2>&1 &
	pids+=($!)
else
	"$tmp/sharehub" demo "${args[@]}" >"$tmp/demo.txt" 2>"$tmp/hub.log" &
	pids+=($!)
fi
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18080/readyz >/dev/null 2>&1 && break; sleep 0.2; done
if [[ $backend != postgres ]]; then
	for _ in $(seq 1 50); do grep -q '  app ' "$tmp/demo.txt" 2>/dev/null && break; sleep 0.1; done
	key=$(grep '  app ' "$tmp/demo.txt" | awk '{print $2}')
fi
url=http://127.0.0.1:18080/v1/departments/xy
curl -fs "$url" -H "Authorization: Bearer $key" >"$tmp/body.json"
"$tmp/barehttp" --listen 127.0.0.1:18081 --body-file "$tmp/body.json" &
pids+=($!)
sleep 0.5

# cpu PID prints the process's user+system CPU time in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
hubpid=${pids[0]} barepid=${pids[1]}
# run NAME PID wrk-args...: runs wrk, prints its report, and records the
# rate and the server's CPU microseconds per request.
run() {
	local name=$1 pid=$2
	shift 2
	local c0 c1 out rate reqs
	c0=$(cpu "$pid")
	out=$(wrk -t2 -c"$conns" -d"$dur" --latency "$@")
	c1=$(cpu "$pid")
	echo "$out"
	rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	printf -v "${name}_rate" '%s' "$rate"
	printf -v "${name}_cpu" '%.1f' "$(echo "($c1 - $c0) * 1000000 / $tck / $reqs" | bc -l)"
}
echo "== bare net/http handler (same $(wc -c <"$tmp/body.json") bytes)"
run bare "$barepid" http://127.0.0.1:18081/
echo "== sharehub: authenticated, audited GET $url ($backend)"
run hub "$hubpid" -H "Authorization: Bearer $key" "$url"
n=$(curl -fs "http://127.0.0.1:18080/v1/audit/checkpoint" | sed 's/.*"size":\([0-9]*\).*/\1/')
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'bare     %10s req/s  %6s µs CPU/request\n' "$bare_rate" "$bare_cpu"
printf 'sharehub %10s req/s  %6s µs CPU/request\n' "$hub_rate" "$hub_cpu"
printf 'ratio (rate) %.2f   ratio (CPU per request, bare/hub) %.2f   audit log size after run: %s\n' \
	"$(echo "$hub_rate / $bare_rate" | bc -l)" "$(echo "$bare_cpu / $hub_cpu" | bc -l)" "$n"
