#!/usr/bin/env bash
# Installs the npm fixtures used by the interop specs (real itty-sockets,
# phoenix and eventsource clients) and by the browser specs (puppeteer-core,
# which drives Debian's chromium and downloads no browser), each from its
# committed lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "node not found: interop specs will be skipped"; exit 0; }
for d in spec/interop/*/ spec/browser/; do
    [ -f "$d/package-lock.json" ] || continue
    if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules" ]; then
        echo "npm ci in $d"
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
