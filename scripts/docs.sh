#!/usr/bin/env bash
# The API reference.  `docs.sh build` regenerates docs/api/ with LDoc
# (config.ld); `docs.sh check` fails when a public function has no doc
# comment or when the committed docs/api/ differs from what the sources
# generate.  The "Last updated" stamp is dropped so that a rebuild of the
# same sources gives the same files.
set -euo pipefail
cd "$(dirname "$0")/.."
gen() { # gen DIR
    rm -rf "$1" && mkdir -p "$1"
    ldoc -q -d "$1" . >/dev/null
    find "$1" -name '*.html' -exec sed -i 's|<i style="float:right;">Last updated [^<]*</i>||' {} +
}
case ${1:-build} in
build)
    lua5.4 scripts/check-docs.lua
    gen docs/api
    echo "docs/api/ written (open docs/api/index.html)"
    ;;
check)
    lua5.4 scripts/check-docs.lua
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    gen "$tmp/api"
    if ! diff -r -q docs/api "$tmp/api" >/dev/null 2>&1; then
        diff -r docs/api "$tmp/api" | head -n 40 || true
        echo "docs/api/ is stale: run 'make docs' and commit it" >&2
        exit 1
    fi
    echo "docs/api/ matches the sources"
    ;;
*) echo "usage: docs.sh build|check" >&2; exit 2 ;;
esac
