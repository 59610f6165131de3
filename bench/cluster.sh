#!/usr/bin/env bash
# Benchmark: switchboard relay nodes joined through Redis against one node,
# on this box, with the bench's load generator (scenarios (a) fan-out and
# (b) rooms of the performance issue; see bench/README.md).
#
#   bench/cluster.sh [--quick|--tiny] [--reps N] [--duration S]
#                    [--only "fanout rooms"] [--configs "2-nodes 1-node 1-node-redis"]
#                    [--history N]
#
# Configurations (every run on freshly started processes):
#   2-nodes       two `examples/relay.lua --redis URL --node a|b` on two
#                 ports; loadgen puts every other block of connections on the
#                 second node, so every channel has members on both
#   1-node        one relay, no Redis (the single-process baseline)
#   1-node-redis  one relay with --redis: what the backplane costs alone
# CPU and RSS are summed over the relays and the redis-server the script
# starts (its own, on a free loopback port).  The relays keep `--history N`
# messages per channel (default: the relay's own 100), so with Redis every
# message is numbered and kept in a Redis stream: that is the cost measured.
# --tiny: a few seconds in all, to check that the script works.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

QUICK=0
TINY=0
REPS=
DURATION=
ONLY="fanout rooms"
CONFIGS="2-nodes 1-node"
HISTORY=
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --tiny) TINY=1 ;;
        --reps) REPS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --configs) CONFIGS=$2; shift ;;
        --history) HISTORY=$2; shift ;;
        -h|--help) sed -n 2,21p "$0"; exit 0 ;;
        *) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ] || [ "$TINY" = 1 ]; then REPS=${REPS:-1}; else REPS=${REPS:-3}; fi
command -v redis-server >/dev/null || { echo "cluster.sh: redis-server is not installed" >&2; exit 1; }

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_output cluster-

build_tool loadgen
LOADGEN=$OUT/loadgen
ulimit -n "$(ulimit -Hn)"

PIDS=()
start_redis() {
    next_port
    launch_redis "$PORT" "$LOGDIR/redis-$PORT.log"
}
stop_all() {
    stop_pids "${PIDS[@]}" ${REDIS_PID:+"$REDIS_PID"}
    PIDS=()
    REDIS_PID=
}
trap 'stop_all' EXIT
trap 'stop_all; exit 130' INT TERM

# start_relay PORT [REDIS_URL NODE]: appends the relay's pid to PIDS and
# waits until it listens.
start_relay() {
    local port=$1 args=(--port "$1" --no-events)
    [ -z "$HISTORY" ] || args+=(--history "$HISTORY")
    [ $# -lt 3 ] || args+=(--redis "$2" --node "$3")
    lua5.4 examples/relay.lua "${args[@]}" >"$LOGDIR/relay-$port.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_listening relay "$pid" "$port" "$LOGDIR/relay-$port.log"
}

# run_one SCENARIO CONFIG REP LOADGEN-ARGS...: fresh processes, one loadgen
# run, its RESULT line tagged server=CONFIG.
run_one() {
    local scen=$1 cfg=$2 rep=$3; shift 3
    local p1 p2 url extra=() line
    next_port
    p1=$PORT
    case $cfg in
        1-node) start_relay "$p1" || { stop_all; note "$scen/$cfg: relay did not start"; return 0; } ;;
        1-node-redis|2-nodes)
            start_redis || { stop_all; note "$scen/$cfg: redis did not start"; return 0; }
            url=redis://127.0.0.1:$REDIS_PORT/0
            start_relay "$p1" "$url" a || { stop_all; note "$scen/$cfg: relay did not start"; return 0; }
            if [ "$cfg" = 2-nodes ]; then
                next_port
                p2=$PORT
                start_relay "$p2" "$url" b || { stop_all; note "$scen/$cfg: relay did not start"; return 0; }
                extra+=(--port2 "$p2" --also-pid "${PIDS[1]}")
            fi
            extra+=(--also-pid "$REDIS_PID")
            sleep 0.5 ;;    # the nodes hear each other's first heartbeat
        *) echo "cluster.sh: unknown configuration $cfg" >&2; exit 2 ;;
    esac
    line=$(timeout --foreground 900 "$LOADGEN" --proto native --port "$p1" --server-pid "${PIDS[0]}" \
        "${extra[@]}" --label "$scen" "$@" 2>>"$LOGDIR/loadgen.err" | tee -a "$LOGDIR/loadgen.out" \
        | grep '^RESULT' || true)
    stop_all
    record_result "$scen" "$cfg" "$rep" "$line"
}

if [ "$TINY" = 1 ]; then
    W=(--warmup 0.5 --duration 1 --drain 1); FAN_SUBS="100"; ROOM_CONNS=100; ROOMS=10
elif [ "$QUICK" = 1 ]; then
    W=(--warmup 1 --duration 3 --drain 5); FAN_SUBS="1000"; ROOM_CONNS=1000; ROOMS=100
else
    W=(--warmup 3 --duration 10 --drain 10); FAN_SUBS="1000 10000"; ROOM_CONNS=5000; ROOMS=500
fi
[ -z "$DURATION" ] || W[3]=$DURATION

busy_check "at start" 0
echo "bench: configurations: $CONFIGS; reps $REPS; results in $RESULTS"
for scen_kind in $ONLY; do
case $scen_kind in
fanout)
    for n in $FAN_SUBS; do
        scen=fanout-$n-64B
        win=$(( 8000 / n > 2 ? 8000 / n : 2 ))
        echo "== $scen-max: 1 publisher, $n subscribers, 64 B, max rate ($win in flight)"
        for rep in $(seq "$REPS"); do for c in $CONFIGS; do
            # shellcheck disable=SC2046
            run_one "$scen-max" "$c" "$rep" --conns $((n + 1)) --payload 64 --rate 0 \
                --window "$win" $(srcips "$n") "${W[@]}"
        done; done
        echo "== $scen-half: same at half of each configuration's own max rate (latency)"
        for rep in $(seq "$REPS"); do for c in $CONFIGS; do
            max=$(median_of "$scen-max" "$c" msgs_per_s)
            half=$(python3 -c "print(max(1.0, float('${max:-0}' or 0) / 2))")
            # shellcheck disable=SC2046
            run_one "$scen-half" "$c" "$rep" --conns $((n + 1)) --payload 64 --rate "$half" \
                $(srcips "$n") "${W[@]}"
        done; done
    done ;;
rooms)
    echo "== rooms: $ROOM_CONNS connections in $ROOMS rooms, each publishing 1 msg/s, then max rate"
    for rep in $(seq "$REPS"); do for c in $CONFIGS; do
        run_one rooms-1s "$c" "$rep" --conns "$ROOM_CONNS" --channels "$ROOMS" --pubs "$ROOM_CONNS" \
            --pub-reads --rate 1 "${W[@]}"
        run_one rooms-max "$c" "$rep" --conns "$ROOM_CONNS" --channels "$ROOMS" --pubs "$ROOM_CONNS" \
            --pub-reads --rate 0 --window 2 "${W[@]}"
    done; done ;;
*) echo "cluster.sh: unknown scenario $scen_kind" >&2; exit 2 ;;
esac
done

python3 bench/table.py --table <"$RESULTS" | tee "$OUT/cluster-table-$STAMP.txt"
echo "bench: raw results $RESULTS, table $OUT/cluster-table-$STAMP.txt"
