#!/usr/bin/env bash
# HTTP load benchmark: an authenticated, audited GET that reads one row
# (GET /v1/departments/xy with a department app's key) against a bare
# net/http handler returning the same bytes from memory, side by side, with
# wrk on 127.0.0.1. Needs wrk (apt-get install wrk).
#
#   scripts/bench-http.sh [sqlite|postgres] [duration]
#
# For postgres set SHAREHUB_BENCH_POSTGRES to an empty database URL.
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

run() { wrk -t2 -c"$conns" -d"$dur" --latency "$@" | tee -a "$tmp/wrk.txt"; }
echo "== bare net/http handler (same $(wc -c <"$tmp/body.json") bytes)"
bare=$(run http://127.0.0.1:18081/ | awk '/Requests\/sec/ {print $2}')
echo "== sharehub: authenticated, audited GET $url ($backend)"
hubrate=$(run -H "Authorization: Bearer $key" "$url" | awk '/Requests\/sec/ {print $2}')
n=$(curl -fs "http://127.0.0.1:18080/v1/audit/checkpoint" | sed 's/.*"size":\([0-9]*\).*/\1/')
printf '\nbare %s req/s, sharehub %s req/s, ratio %.2f; audit log size after run: %s\n' "$bare" "$hubrate" "$(echo "$hubrate / $bare" | bc -l)" "$n"
grep -q '"status":200' <(curl -fs "$url" -H "Authorization: Bearer $key" -w '' ; echo) || true
