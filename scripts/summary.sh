#!/usr/bin/env bash
# Prints the per-Lua lines recorded by run-specs.sh and one total line.
cd "$(dirname "$0")/.." || exit 1
[ -f .build/results.txt ] || { echo "0 passed, 1 failed"; exit 1; }
echo "== results"
cat .build/results.txt
awk '{ p += $2; f += $4 } END { printf "total: %d passed, %d failed\n", p, f }' .build/results.txt
