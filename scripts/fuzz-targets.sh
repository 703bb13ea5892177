#!/usr/bin/env bash
# Lists every fuzz target as ./pkg/path:FuzzName, for the short fuzz run in make test.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
	pkg=./$(dirname "${f#./}")
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r name; do
		echo "$pkg:$name"
	done
done
