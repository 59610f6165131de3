#!/usr/bin/env bash
# Join/leave storm on one channel (issue 18, item 2): bench/storm.c against
# a relay with presence events on (the default), a fresh relay per run.
#
#   bash bench/storm.sh [TREE] [--sizes "2000 8000 20000"] [--reps R]
#                       [--leave "close drop"] [--max-pending H]
#                       [--join-timeout S] [--leave-timeout S]
#                       [--relay-args "ARGS"]
#
# TREE: the checkout whose examples/relay.lua and C module are run (default
# this one); it is built with `make build` there when its module is missing
# or older than its sources.  The load generator is always this tree's.
# --leave: how the N go, one run each (default both): close = each sends a
# close frame and reads on until the server hangs up; drop = each just
# closes its socket.  Each size and leave runs R times (default 1): a RUN
# line per run, then one RESULT line with the medians.  Sizes over what
# one server process may hold (its fd limit, 20,000 here, less 200 for the
# rest) are capped, with a note; past 9,900 connections the client forks a
# second process.  --join-timeout, --leave-timeout: seconds (default 120
# each).  --relay-args: added to the relay's command line (e.g. to lift a
# default connection cap).  Results: .build/bench/storm-results-<time>.txt,
# relay logs in .build/bench/storm-logs-<time>/.  Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
usage() { sed -n 2,24p "$0"; exit "${1:-2}"; }

TREE=$ROOT
SIZES="2000 8000 20000"
REPS=1
LEAVES="close drop"
STORM_ARGS=()
RELAY_ARGS=""
JOIN_TIMEOUT=120
LEAVE_TIMEOUT=120
while [ $# -gt 0 ]; do
    case $1 in
        --sizes) SIZES=$2; shift ;;
        --reps) REPS=$2; shift ;;
        --leave) LEAVES=$2; shift ;;
        --max-pending) STORM_ARGS+=(--max-pending "$2"); shift ;;
        --join-timeout) JOIN_TIMEOUT=$2; shift ;;
        --leave-timeout) LEAVE_TIMEOUT=$2; shift ;;
        --relay-args) RELAY_ARGS=$2; shift ;;
        -h|--help) usage 0 ;;
        -*) echo "storm.sh: unknown argument $1" >&2; usage ;;
        *) TREE=$(cd "$1" && pwd) ;;
    esac
    shift
done

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_output storm-
build_tool storm
STORM=$OUT/storm

[ -f "$TREE/examples/relay.lua" ] || { echo "storm.sh: $TREE has no examples/relay.lua" >&2; exit 1; }
SO=$TREE/lua_modules/lib/lua/5.4/switchboard/core.so
if [ ! -f "$SO" ] || [ -n "$(find "$TREE/csrc" "$TREE"/*.rockspec -newer "$SO" -print -quit)" ]; then
    echo "storm.sh: building $TREE"
    make -C "$TREE" --no-print-directory build
fi
REV=$(git -C "$TREE" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no -- csrc lua examples 2>/dev/null)" ] ||
    REV=$REV-dirty

ulimit -n "$(ulimit -Hn)"
FD_MAX=$(ulimit -n)
CAP=$((FD_MAX - 200))

SRV_PID=
stop_server() { [ -z "$SRV_PID" ] || stop_pids "$SRV_PID"; SRV_PID=; }
trap 'stop_server' EXIT
trap 'stop_server; exit 130' INT TERM

busy_check "at start" 0
echo "storm: tree $TREE ($REV); sizes $SIZES; leave $LEAVES; reps $REPS; results in $RESULTS"
for n in $SIZES; do
    if [ "$n" -gt "$CAP" ]; then
        note "storm-$n: capped at $CAP connections (the relay is one process with $FD_MAX fds)"
        n=$CAP
    fi
    procs=$(( (n + 9899) / 9900 ))
    for leave in $LEAVES; do
    for rep in $(seq "$REPS"); do
        next_port
        log=$LOGDIR/relay-$n-$rep.log
        # shellcheck disable=SC2086  # RELAY_ARGS is a list of words
        (cd "$TREE" && LUA_PATH="lua/?.lua;lua/?/init.lua;;" \
            LUA_CPATH="lua_modules/lib/lua/5.4/?.so;;" \
            exec lua5.4 examples/relay.lua --port "$PORT" $RELAY_ARGS) >"$log" 2>&1 &
        SRV_PID=$!
        if ! wait_listening relay "$SRV_PID" "$PORT" "$log"; then
            note "storm-$n-$leave/rep$rep: the relay did not start (see $log)"
            stop_server
            continue
        fi
        line=$(timeout --foreground $((JOIN_TIMEOUT + LEAVE_TIMEOUT + 60)) "$STORM" \
            --port "$PORT" --conns "$n" --procs "$procs" --server-pid "$SRV_PID" \
            --join-timeout "$JOIN_TIMEOUT" --leave-timeout "$LEAVE_TIMEOUT" \
            --leave "$leave" --label "storm-$n" "${STORM_ARGS[@]}" 2>>"$LOGDIR/storm.err" | grep '^RESULT' || true)
        kill -0 "$SRV_PID" 2>/dev/null || note "storm-$n-$leave/rep$rep: the relay exited (see $log)"
        stop_server
        if [ -z "$line" ]; then
            note "storm-$n-$leave/rep$rep: no result (see $LOGDIR/storm.err)"
            continue
        fi
        echo "RUN ${line#RESULT } tree=$REV rep=$rep" | tee -a "$RESULTS"
    done
    # the medians of this size's runs
    python3 - "$n" "$leave" "$REV" "$RESULTS" <<'EOF' | tee -a "$RESULTS"
import statistics, sys
n, leave, rev, path = sys.argv[1:5]
runs = []
for line in open(path):
    if line.startswith("RUN "):
        kv = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
        if kv.get("conns") == n and kv.get("leave") == leave and kv.get("tree") == rev:
            runs.append(kv)
if runs:
    out = []
    for k in runs[0]:
        if k in ("rep", "tree"):
            continue
        vals = [r.get(k) for r in runs]
        try:
            med = statistics.median(float(v) for v in vals)
            out.append("%s=%s" % (k, ("%d" % med) if med == int(med) and "." not in vals[0] else "%.3f" % med))
        except (TypeError, ValueError):
            out.append("%s=%s" % (k, ",".join(sorted(set(vals)))))
    print("RESULT " + " ".join(out) + " tree=%s reps=%d" % (rev, len(runs)))
EOF
    done
done
busy_check "at the end" 1
echo "storm: results in $RESULTS"
