#!/usr/bin/env bash
# Licence bulk import benchmark: a fresh registry (demo departments, the
# 224 licence types, a seal per issuing department), then
# `sharehub import licences FILE --commit` under /usr/bin/time.
#
#   scripts/bench-licence-import.sh sqlite   [COUNT]
#   scripts/bench-licence-import.sh postgres [COUNT]   # uses SHAREHUB_BENCH_POSTGRES,
#                                                      # default database licbench on 127.0.0.1 (dropped and made anew)
#
# COUNT defaults to 2400000; the generated csv is kept in $TMPDIR for reruns.
# KEEP=DIR keeps the data directory there afterwards (for scripts/bench-licence.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
count=${2:-2400000}
tmp=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/sharehub" ./cmd/sharehub
csv=${TMPDIR:-/tmp}/sharehub-licences-$count.csv
data=$tmp/data
extra=()
if [[ $backend == postgres ]]; then
	url=${SHAREHUB_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/licbench?sslmode=disable}
	dbname=$(sed -E 's|.*/([^/?]+)(\?.*)?$|\1|' <<<"$url")
	psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $dbname" -c "CREATE DATABASE $dbname" postgres
	export SHAREHUB_MASTER_KEY=$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	extra=(--database "$url")
	admin=$("$tmp/sharehub" bootstrap "${extra[@]}" --data-dir "$data" --department-id xy \
		--department-code 11420600000000019T --department-name 襄阳市人民政府 | sed -n 2p)
	"$tmp/sharehub" serve "${extra[@]}" --data-dir "$data" --blobs "file:$data/blobs" --listen 127.0.0.1:18097 --log-level error &
	pid=$!
	for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18097/readyz >/dev/null 2>&1 && break; sleep 0.2; done
	tail -n +2 testdata/departments.csv | while IFS=, read -r id code name kind parent; do
		[[ $id == xy ]] && continue
		curl -fs -o /dev/null -X POST http://127.0.0.1:18097/v1/departments -H "Authorization: Bearer $admin" \
			-H 'Content-Type: application/json' \
			-d "{\"id\":\"$id\",\"code\":\"$code\",\"name\":\"$name\",\"kind\":\"$kind\",\"parent_id\":\"$parent\"}"
	done
	# A department app of 民政局 for scripts/bench-licence.sh, in the
	# demo's key file; the master key beside it, so that a later serve
	# with --data-dir finds it.
	pr=$(curl -fs -X POST http://127.0.0.1:18097/v1/principals -H "Authorization: Bearer $admin" \
		-H 'Content-Type: application/json' -d '{"department_id":"xy-mzj","name":"bench app","roles":["app"]}' |
		python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
	app=$(curl -fs -X POST "http://127.0.0.1:18097/v1/principals/$pr/keys" -H "Authorization: Bearer $admin" \
		-H 'Content-Type: application/json' -d '{"name":"bench"}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["secret"])')
	printf '[{"role":"admin","secret":"%s"},{"role":"app","secret":"%s"}]\n' "$admin" "$app" >"$data/demo-keys.json"
	(umask 077; echo "$SHAREHUB_MASTER_KEY" >"$data/master.key")
	kill $pid; wait $pid 2>/dev/null || true; pid=
else
	"$tmp/sharehub" demo --data-dir "$data" --listen 127.0.0.1:18097 >"$tmp/demo.txt" 2>&1 &
	pid=$!
	for _ in $(seq 1 200); do grep -q '  app ' "$tmp/demo.txt" 2>/dev/null && break; sleep 0.2; done
	kill $pid; wait $pid 2>/dev/null || true; pid=
fi
"$tmp/sharehub" licence setup "${extra[@]}" --data-dir "$data"
if [[ ! -s $csv ]]; then
	"$tmp/sharehub" licence generate "${extra[@]}" --data-dir "$data" --count "$count" --seed 5 --out "$csv"
fi
echo "== import $count licences ($backend), load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f "%e s elapsed, %M KB max RSS, %U s user, %S s system" \
	"$tmp/sharehub" import licences "$csv" --commit --quiet "${extra[@]}" --data-dir "$data" 2>&1 | grep -v normalised | tail -6
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n ${KEEP:-} ]]; then
	rm -rf "$KEEP" && mv "$data" "$KEEP" && echo "data directory kept in $KEEP"
fi
