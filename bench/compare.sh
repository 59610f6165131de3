#!/usr/bin/env bash
# Compares two switchboard checkouts in ONE bench run: each repetition runs
# bench/run.sh (this tree's, so one load generator for both) once against
# OLD's examples/relay.lua and once against NEW's, each with its own
# lua_modules, alternating the order (OLD NEW, NEW OLD, ...) so that both
# see the same machine state; then one table of medians and NEW/OLD.
#
#   bash bench/compare.sh OLD_DIR NEW_DIR [--reps N] [--duration S] [--quick]
#                         [--only "fanout rooms idle"]
#
# Defaults: 3 reps, --only "fanout rooms idle", run.sh's sizes and timings.
# Each checkout must be built first (`make -C DIR build`). Results (RESULT
# lines tagged server=old|new, rep=R) and the table go to
# .build/bench/compare-*.txt. Only 127.0.0.0/8; nothing is downloaded: the
# peers' tools run.sh would install (mosquitto, lws, node-ws' npm deps) are
# not used with --servers switchboard, so stubs on PATH stand in for them.
# churn-phx-* rows are left out: run.sh runs bench/churn_server.lua from
# this tree whatever SB_CMD says.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
usage() { sed -n 2,18p "$0"; exit "${1:-2}"; }
case ${1:-} in -h|--help) usage 0 ;; esac
[ $# -ge 2 ] || usage
OLD=$(cd "$1" && pwd); NEW=$(cd "$2" && pwd); shift 2
REPS=3; ONLY="fanout rooms idle"; PASS=()
while [ $# -gt 0 ]; do
    case $1 in
        --reps) REPS=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --duration) PASS+=(--duration "$2"); shift ;;
        --quick) PASS+=(--quick) ;;
        -h|--help) usage 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for d in "$OLD" "$NEW"; do
    case $d in *" "*|*PORT*) echo "compare.sh: $d: no spaces or PORT in paths, please" >&2; exit 2 ;; esac
    so=$d/lua_modules/lib/lua/5.4/switchboard/core.so
    if [ ! -f "$d/examples/relay.lua" ] || [ ! -f "$so" ]; then
        echo "compare.sh: $d is not built (make -C $d build)" >&2; exit 1
    fi
    if [ -n "$(find "$d/csrc" "$d/switchboard-scm-1.rockspec" -newer "$so" -print -quit)" ]; then
        echo "compare.sh: warning: $d has sources newer than its core.so (make -C $d build?)" >&2
    fi
done

# Stubs for what run.sh would otherwise apt-get / npm-install for the peers.
STUBS=$(mktemp -d)
trap 'rm -rf "$STUBS"' EXIT
for c in mosquitto libwebsockets-test-server; do
    printf '#!/bin/sh\necho "compare.sh: %s stub" >&2; exit 127\n' "$c" >"$STUBS/$c"
done
printf '#!/bin/sh\nexit 0\n' >"$STUBS/npm"          # run.sh's `npm ci` for node-ws
printf '#!/bin/sh\necho "compare.sh: refusing to install: $*" >&2; exit 1\n' >"$STUBS/apt-get"
chmod +x "$STUBS"/*

mkdir -p "$HERE/.build/bench"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
ALL=$HERE/.build/bench/compare-results-$STAMP.txt
: >"$ALL"
# run_side old|new DIR REP: one run.sh run; its RESULT/NOTE lines, retagged,
# appended to $ALL.
run_side() {
    local side=$1 dir=$2 rep=$3 log res t0=$SECONDS
    log=$(mktemp "$STUBS/run.XXXX")
    echo "== compare rep $rep/$REPS: ${side^^} $dir"
    SB_CMD="env LUA_PATH=\"$dir/lua/?.lua;$dir/lua/?/init.lua;;\" LUA_CPATH=\"$dir/lua_modules/lib/lua/5.4/?.so;;\" lua5.4 $dir/examples/relay.lua --port PORT --no-events" \
        PATH="$STUBS:$PATH" bash "$HERE/bench/run.sh" --servers switchboard --reps 1 --only "$ONLY" \
        "${PASS[@]}" | tee "$log"
    res=$(sed -n 's/^bench: servers: .*results in //p' "$log" | tail -1)
    [ -f "$res" ] || { echo "compare.sh: no results file from run.sh ($side rep $rep)" >&2; exit 1; }
    sed -e "s/ server=[^ ]*/ server=$side/; s/ rep=[0-9]*/ rep=$rep/" \
        -e "s/^NOTE /NOTE $side rep$rep: /" "$res" >>"$ALL"
    echo "== compare rep $rep/$REPS: ${side^^} took $((SECONDS - t0)) s"
}
SECONDS=0
for rep in $(seq "$REPS"); do
    if [ $((rep % 2)) = 1 ]; then order="old new"; else order="new old"; fi
    for side in $order; do
        if [ "$side" = old ]; then run_side old "$OLD" "$rep"; else run_side new "$NEW" "$rep"; fi
    done
done

python3 - "$HERE/bench" "$ALL" "$OLD" "$NEW" "$REPS" "$SECONDS" <<'EOF' | tee "${ALL/results/table}"
import sys
sys.path.insert(0, sys.argv[1])
from table import load, kind, median, fmt  # noqa: E402
# The headline metrics of each kind of scenario (1: higher is better).
HEAD = {"max": [("deliveries_per_s", "deliv/s", 1), ("srv_cpu_us_per_delivery", "cpu us/deliv", -1)],
        "half": [("lat_p99_us", "p99 us", -1)], "rooms-1s": [("srv_cpu_pct", "server cpu %", -1)],
        "rooms-max": [("deliveries_per_s", "deliv/s", 1)], "idle": [("srv_rss_per_conn_b", "rss B/conn", -1)],
        "slow": [("lat_p99_us", "healthy p99 us", -1)], "churn": [("joins_leaves_per_s", "joins+leaves/s", 1)]}
LOSS = ("half", "rooms-1s", "rooms-max", "slow")  # open loops: loss shows there too
with open(sys.argv[2]) as f:
    rows, notes = load(f)
out = [["scenario", "metric", "better", "OLD", "NEW", "NEW/OLD", "n"]]
for sc in dict.fromkeys(r["label"] for r in rows):
    if sc.startswith("churn-phx"):
        notes.append("%s left out: run.sh runs it on this tree, not OLD/NEW" % sc)
        continue
    n = "%d/%d" % tuple(sum(r["label"] == sc and r.get("server") == s for r in rows) for s in ("old", "new"))
    for key, name, better in HEAD[kind(sc)] + [("loss_pct", "loss %", -1)] * (kind(sc) in LOSS):
        o, w = median(rows, sc, "old", key), median(rows, sc, "new", key)
        ratio = "x%.3f" % (w / o) if o and w is not None and o > 0 else "-"
        out.append([sc, name, "higher" if better > 0 else "lower", fmt(o), fmt(w), ratio, n])
wid = [max(len(r[i]) for r in out) for i in range(len(out[0]))]
print("\nOLD %s\nNEW %s\nmedians of %s rep(s), alternating order; %s s in all" % tuple(sys.argv[3:7]))
for i, r in enumerate(out):
    print("  ".join(c.ljust(wid[j]) if j < 3 else c.rjust(wid[j]) for j, c in enumerate(r)))
    if i == 0:
        print("  ".join("-" * x for x in wid))
load_ = {s: median([dict(r, label="*") for r in rows], "*", s, "loadavg") for s in ("old", "new")}
print("load avg (median over runs): OLD %s, NEW %s" % (fmt(load_["old"]), fmt(load_["new"])))
for n in dict.fromkeys(notes):
    print("note:", n)
EOF
echo "compare: results $ALL, table ${ALL/results/table}"
