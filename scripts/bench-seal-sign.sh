#!/usr/bin/env bash
# HTTP benchmark of sealing: POST /v1/seals/:id/sign with a supplied digest
# (JSON), authenticated with a seal-user key and audited (each call an
# audit entry naming seal:ID and sha256:DIGEST, plus its usage record), with
# wrk on 127.0.0.1 and scripts/bench-seal-sign.lua. Needs wrk.
#
#   scripts/bench-seal-sign.sh [sqlite|postgres] [duration]
#
# For postgres set SHAREHUB_BENCH_POSTGRES to an empty database URL.
# CONNS (default 64) and THREADS (default 2) tune wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
dur=${2:-10s}
conns=${CONNS:-64}
threads=${THREADS:-2}
port=${PORT:-18082}
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/sharehub" ./cmd/sharehub
u=http://127.0.0.1:$port
args=(--data-dir "$tmp/data" --listen 127.0.0.1:$port --log-level error)
if [[ $backend == postgres ]]; then
	: "${SHAREHUB_BENCH_POSTGRES:?set SHAREHUB_BENCH_POSTGRES}"
	export SHAREHUB_MASTER_KEY=$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	"$tmp/sharehub" bootstrap --database "$SHAREHUB_BENCH_POSTGRES" --data-dir "$tmp/data" --department-id xy \
		--department-code 11420600000000019T --department-name 襄阳市人民政府 >"$tmp/boot.txt"
	admin=$(sed -n 2p "$tmp/boot.txt")
	"$tmp/sharehub" serve "${args[@]}" --database "$SHAREHUB_BENCH_POSTGRES" --blobs "file:$tmp/data/blobs" >"$tmp/hub.log" 2>&1 &
	pids+=($!)
else
	"$tmp/sharehub" demo "${args[@]}" >"$tmp/demo.txt" 2>"$tmp/hub.log" &
	pids+=($!)
fi
for _ in $(seq 1 150); do curl -fs $u/readyz >/dev/null 2>&1 && break; sleep 0.2; done
if [[ $backend != postgres ]]; then
	for _ in $(seq 1 100); do grep -q '  admin ' "$tmp/demo.txt" 2>/dev/null && break; sleep 0.1; done
	admin=$(grep '  admin ' "$tmp/demo.txt" | awk '{print $2}')
fi
# A seal-user principal and a seal of department xy, made through the API.
json() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -1; }
firstid() { sed -n 's/^{"id":"\([^"]*\)".*/\1/p'; }
pid=$(curl -fs $u/v1/principals -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
	-d '{"department_id":"xy","name":"bench-sealer","roles":["seal-user"]}' | firstid)
key=$(curl -fs $u/v1/principals/$pid/keys -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
	-d '{"name":"bench"}' | json secret)
img=$(printf '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle cx="5" cy="5" r="4" fill="red"/></svg>' | base64 -w0)
seal=$(curl -fs $u/v1/seals -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
	-d "{\"organisation_id\":\"xy\",\"name\":\"压测合同专用章\",\"kind\":\"合同专用章\",\"image\":\"$img\"}" | firstid)
[[ -n $key && -n $seal ]] || { echo "setup failed: key=$key seal=$seal" >&2; cat "$tmp/hub.log" >&2; exit 1; }
n0=$(curl -fs "$u/v1/audit/checkpoint" | sed 's/.*"size":\([0-9]*\).*/\1/')
echo "== sealing a supplied digest: POST $u/v1/seals/$seal/sign ($backend, wrk -t$threads -c$conns -d$dur), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# CPU time (user+system clock ticks) of the hub process, and of the
# PostgreSQL server when it is local, so the figure can be read apart from
# what else the machine was running.
cpu() { awk '{print $14 + $15}' /proc/${pids[0]}/stat; }
pgcpu() { local t=0; for p in $(pgrep -x postgres 2>/dev/null); do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0))); done; echo $t; }
c0=$(cpu); p0=$(pgcpu)
SEAL_ID=$seal SEAL_KEY=$key wrk -t"$threads" -c"$conns" -d"$dur" --latency -s scripts/bench-seal-sign.lua "$u" | tee "$tmp/wrk.txt"
c1=$(cpu); p1=$(pgcpu)
n1=$(curl -fs "$u/v1/audit/checkpoint" | sed 's/.*"size":\([0-9]*\).*/\1/')
rate=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
tick=$(getconf CLK_TCK)
printf '\nsignatures/s: %s; audit entries added during the run: %s; load after: %s\n' "$rate" "$((n1 - n0))" "$(cut -d' ' -f1-3 /proc/loadavg)"
awk -v c=$((c1 - c0)) -v p=$((p1 - p0)) -v n="$reqs" -v tk="$tick" -v be="$backend" 'BEGIN {
	us = c / tk * 1e6 / n; pus = (be == "postgres") ? p / tk * 1e6 / n : 0
	printf "hub CPU per signature: %.0f us (+ %.0f us in PostgreSQL): 2 dedicated cores would serve about %.0f signatures/s\n", us, pus, 2e6 / (us + pus)
}'
# One more, checked: the JWS verifies.
jws=$(curl -fs $u/v1/seals/$seal/sign -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
	-d '{"document":{"sha256":"'$(printf x | sha256sum | cut -c1-64)'","size":1,"media_type":"text/plain","name":"x.txt"},"purpose":"check"}')
curl -fs $u/v1/signatures/verify -H 'Content-Type: application/jose+json' -d "$jws" | grep -q '"valid":true' && echo "sample JWS verifies: ok"
