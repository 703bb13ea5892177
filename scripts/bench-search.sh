#!/usr/bin/env bash
# HTTP load benchmark of catalogue search: a demo hub (SQLite) with the
# generator's 18,000-item catalogue imported and published, then wrk
# against GET /v1/catalog/search with a rotating mix of 1-, 2- and
# 3+-character Chinese queries (scripts/bench-search.lua), authenticated
# and audited like every call. For scale, the same wrk run against the
# one-row audited GET /v1/departments/xy on the same hub. Needs wrk
# (apt-get install wrk). Run from anywhere; it prints the machine load
# before each run, since the box is shared.
#
#   scripts/bench-search.sh [duration] [items]
#
# CONNS (default 32) sets wrk's connections; KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
items=${2:-18000}
conns=${CONNS:-32}
port=${PORT:-18080}
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[[ ${KEEP:-} == 1 ]] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$tmp/sharehub" ./cmd/sharehub
args=(--data-dir "$tmp/data" --listen "127.0.0.1:$port" --log-level error)

start_demo() {
	"$tmp/sharehub" demo "${args[@]}" >"$tmp/demo.txt" 2>>"$tmp/hub.log" &
	pid=$!
	for _ in $(seq 1 300); do grep -q '  app ' "$tmp/demo.txt" 2>/dev/null && break; sleep 0.2; done
	grep -q '  app ' "$tmp/demo.txt" || { cat "$tmp/hub.log" >&2; exit 1; }
}
stop_demo() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

echo "== demo hub (departments, demo catalogue), then stopped for the import"
start_demo
stop_demo
echo "== generate $items items and import them (--commit --publish)"
"$tmp/sharehub" generate catalog --items "$items" --out "$tmp/catalog.xlsx"
/usr/bin/time -f 'import: %e s wall, %U s user, %S s sys, peak RSS %M KB' \
	"$tmp/sharehub" import catalog "$tmp/catalog.xlsx" "${args[@]:0:2}" --commit --publish --quiet >"$tmp/import.txt" 2>"$tmp/import.err" ||
	{ cat "$tmp/import.txt" "$tmp/import.err" >&2; exit 1; }
sed -n 1,4p "$tmp/import.txt"
tail -1 "$tmp/import.err"
start_demo
key=$(grep '  app ' "$tmp/demo.txt" | awk '{print $2}')
base=http://127.0.0.1:$port
# The first search builds the in-memory index; not part of the run.
curl -fs -o /dev/null -w 'first search (index build): %{time_total} s\n' "$base/v1/catalog/search?q=%E8%AF%81" -H "Authorization: Bearer $key"
n=$(curl -fs "$base/v1/catalog/search?q=%E4%BF%A1%E6%81%AF&limit=100" -H "Authorization: Bearer $key" | grep -o '"code"' | wc -l)
echo "search 信息 answers on its first page of 100: $n"

run() {
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
	wrk -t2 -c"$conns" -d"$dur" --latency "$@" | tee "$tmp/last.txt"
}
echo "== wrk: GET /v1/catalog/search, rotating queries (scripts/bench-search.lua)"
run -s scripts/bench-search.lua -H "Authorization: Bearer $key" "$base/"
search=$(awk '/Requests\/sec/ {print $2}' "$tmp/last.txt")
echo "== wrk: GET /v1/departments/xy (one audited row, for scale)"
run -H "Authorization: Bearer $key" "$base/v1/departments/xy"
one=$(awk '/Requests\/sec/ {print $2}' "$tmp/last.txt")
printf '\nsearch %s req/s; one-row audited GET %s req/s (target: search >= 2000 req/s)\n' "$search" "$one"
