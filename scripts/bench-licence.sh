#!/usr/bin/env bash
# Licence HTTP benchmarks with wrk against a hub serving DATA_DIR (a demo
# data dir into which licences were imported, see BENCHMARKS.md):
#   1. holder lookup  GET /v1/licences?holder_id=..&type_code=..  by a
#      department app with a grant, X-Purpose, audited; random holders;
#   2. the public verify page GET /verify/TOKEN (HTML), audited.
#
#   scripts/bench-licence.sh DATA_DIR LICENCES.csv [duration] [--database URL]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?DATA_DIR}; csv=${2:?LICENCES.csv}; dur=${3:-15s}; shift 3 || true
extra=("$@")
conns=${CONNS:-64}
port=${PORT:-18090}
command -v wrk >/dev/null || { echo "install wrk: apt-get install wrk" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/sharehub" ./cmd/sharehub
"$tmp/sharehub" serve --data-dir "$data" --listen 127.0.0.1:$port --log-level error "${extra[@]}" >"$tmp/hub.log" 2>&1 &
pid=$!
u=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -fs $u/readyz >/dev/null 2>&1 && break; sleep 0.2; done
admin=$(python3 -c "import json;print([k['secret'] for k in json.load(open('$data/demo-keys.json')) if k['role']=='admin'][0])")
app=$(python3 -c "import json;print([k['secret'] for k in json.load(open('$data/demo-keys.json')) if k['role']=='app'][0])")
idtype=$(curl -fs $u/v1/licence-types -H "Authorization: Bearer $admin" | python3 -c "import json,sys;print([t['code'] for t in json.load(sys.stdin)['items'] if t['name']=='居民身份证'][0])")
curl -fs -o /dev/null -X POST $u/v1/grants -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
	-d "{\"consumer_department_id\":\"xy-mzj\",\"resource_kind\":\"licence_type\",\"resource_id\":\"$idtype\",\"fields\":[\"number\",\"holder_name\",\"validity\"],\"purpose\":\"bench\",\"valid_until\":\"2099-01-01T00:00:00Z\"}" || true
# 20,000 holders of 居民身份证 from the imported file.
awk -F, -v t="$idtype" '$1 == t { print $6; if (++n == 20000) exit }' "$csv" >"$tmp/holders.txt"
cat >"$tmp/lookup.lua" <<LUA
local ids = {}
for l in io.lines("$tmp/holders.txt") do ids[#ids+1] = l end
local i = 0
request = function()
  i = i + 1
  local id = ids[(i * 7919) % #ids + 1]
  return wrk.format("GET", "/v1/licences?holder_id=" .. id .. "&type_code=$idtype",
    {["Authorization"] = "Bearer $app", ["X-Purpose"] = "婚姻登记核验"})
end
LUA
h=$(head -1 "$tmp/holders.txt")
echo "== sample lookup"; curl -fs "$u/v1/licences?holder_id=$h&type_code=$idtype" -H "Authorization: Bearer $app" -H 'X-Purpose: 婚姻登记核验' | head -c 400; echo
echo "== holder lookup, $conns connections, $dur"
wrk -t2 -c"$conns" -d"$dur" --latency -s "$tmp/lookup.lua" $u | tee "$tmp/lookup.txt"
# The verify page: a QR for one of those licences, made by a police issuer.
p=$(curl -fs -X POST $u/v1/principals -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d "{\"department_id\":\"xy-gaj\",\"name\":\"bench-issuer-$RANDOM\",\"roles\":[\"issuer\"]}" | python3 -c "import json,sys;print(json.load(sys.stdin)['id'])")
ik=$(curl -fs -X POST $u/v1/principals/$p/keys -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d '{"name":"bench"}' | python3 -c "import json,sys;print(json.load(sys.stdin)['secret'])")
lid=$(curl -fs "$u/v1/licences?holder_id=$h&type_code=$idtype" -H "Authorization: Bearer $app" -H 'X-Purpose: bench' | python3 -c "import json,sys;print(json.load(sys.stdin)['items'][0]['id'])")
vurl=$(curl -fs -X POST "$u/v1/licences/$lid/qr" -H "Authorization: Bearer $ik" -H 'Content-Type: application/json' -d '{"ttl_seconds":3600}' | python3 -c "import json,sys;print(json.load(sys.stdin)['url'])")
echo "== verify page $vurl"
wrk -t2 -c"$conns" -d"$dur" --latency "$vurl" | tee "$tmp/verify.txt"
echo "== lookup: $(awk '/Requests\/sec/ {print $2}' "$tmp/lookup.txt") req/s, p99 $(awk '$1=="99%" {print $2}' "$tmp/lookup.txt"); verify page: $(awk '/Requests\/sec/ {print $2}' "$tmp/verify.txt") req/s, p99 $(awk '$1=="99%" {print $2}' "$tmp/verify.txt")"
