#!/usr/bin/env bash
# Benchmark: switchboard against its peers (uWebSockets, Node ws relay,
# mosquitto over WebSocket, the libwebsockets mirror test server), every
# scenario on a freshly started server, every server in the same run, N
# repetitions, medians, and one table at the end.
#
#   bench/run.sh [--quick] [--reps N] [--servers "switchboard uws node-ws ..."]
#                [--only "fanout rooms idle slow idlemany churn fixed"] [--duration S]
#                [--uws-src UWS_DIR]
#
# --duration: seconds measured per run (default 10; warm-up 3, drain 10).
# --uws-src (or UWS_SRC): a uWebSockets checkout (with its uSockets
# submodule, or USOCKETS_SRC naming one) that bench/peers/uws/build.sh
# builds the uws peer from; nothing is fetched.  Without it, or with
# UWS_RELAY naming a built relay, the uws server is skipped with a note.
#
# Server "switchboard-wN" is switchboard with N workers (listen{ workers =
# N }, SO_REUSEPORT) sharing channels through a redis-server the bench
# starts on loopback; its CPU and RSS include the workers and that Redis.
# "switchboard-h0" is one process with the same settings (no history), and
# "fixed" (not run unless asked) runs every server at the same rate, for
# CPU per delivery of the same work.
#
# SB_CMD is the switchboard server command, PORT replaced by the port; it
# must speak the native protocol on ws://127.0.0.1:PORT/c/<channel> and
# accept --no-events (no join/leave frames, as the peers are run).
# Everything listens on and targets 127.0.0.0/8 only; every load run is
# bounded in connections and time (loadgen refuses runs over an hour and
# each run is wrapped in `timeout`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SB_CMD_DEFAULT='lua5.4 examples/relay.lua --port PORT --no-events'
SB_CMD=${SB_CMD:-$SB_CMD_DEFAULT}
QUICK=0
REPS=
DURATION=
SERVERS="switchboard uws node-ws mosquitto lws-mirror"
UWS_SRC=${UWS_SRC:-}
UWS_RELAY=${UWS_RELAY:-}
ONLY="fanout rooms idle slow idlemany churn"
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --reps) REPS=$2; shift ;;
        --servers) SERVERS=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --uws-src) UWS_SRC=$2; shift ;;
        -h|--help) sed -n 2,21p "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then REPS=${REPS:-1}; else REPS=${REPS:-3}; fi

# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_output ""

# --- what the peers need (Debian 12 packages, the npm lockfile) ----------
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v node >/dev/null || need+=(nodejs npm)
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v libwebsockets-test-server >/dev/null || need+=(libwebsockets-test-server)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    echo "bench: installing ${need[*]}"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NODE_DIR=bench/peers/node-ws
if [ ! -d $NODE_DIR/node_modules ] || [ $NODE_DIR/package-lock.json -nt $NODE_DIR/node_modules ]; then
    (cd $NODE_DIR && npm ci --no-audit --no-fund --loglevel=error)
fi
build_tool churn
build_tool loadgen
CHURN=$OUT/churn
LOADGEN=$OUT/loadgen
ulimit -n "$(ulimit -Hn)"

# --- servers --------------------------------------------------------------
# start_server NAME PORT: sets SRV_PID, and RUNIN for a server that lives in
# its own network namespace (mosquitto: see below).
SRV_PID=
RUNIN=()
ALSO=()
# One redis-server for every switchboard-wN run (pub/sub keeps no state
# between runs).
start_redis() {
    [ -z "$REDIS_PID" ] || return 0
    launch_redis $((20000 + RANDOM % 5000)) "$LOGDIR/redis.log"
}
proto_of() {
    case $1 in
        mosquitto) echo mqtt ;;
        lws-mirror) echo lws-mirror ;;
        *) echo native ;;
    esac
}
# The switchboard command for a port; presence events on when EVENTS=1.
EVENTS=0
sb_cmd() {
    local cmd=${SB_CMD//PORT/$1}
    [ "$EVENTS" = 1 ] && cmd=${cmd// --no-events/}
    echo "$cmd"
}
start_server() {
    local name=$1 port=$2 log=$LOGDIR/$1-$2.log
    RUNIN=()
    ALSO=()
    case $name in
        switchboard-w*)
            start_redis || return 1
            LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="lua_modules/lib/lua/5.4/?.so;;" \
                bash -c "exec $(sb_cmd "$port") --workers ${name#switchboard-w} --history 0 --redis redis://127.0.0.1:$REDIS_PORT/0" >"$log" 2>&1 &
            SRV_PID=$!
            ALSO=(--also-pid "$REDIS_PID") ;;
        switchboard)
            LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="lua_modules/lib/lua/5.4/?.so;;" \
                bash -c "exec $(sb_cmd "$port")" >"$log" 2>&1 &
            SRV_PID=$! ;;
        switchboard-h0)
            # one process with the workers' settings (no history), to set
            # against switchboard-wN
            LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="lua_modules/lib/lua/5.4/?.so;;" \
                bash -c "exec $(sb_cmd "$port") --history 0" >"$log" 2>&1 &
            SRV_PID=$! ;;
        node-ws)
            # shellcheck disable=SC2046
            node $NODE_DIR/relay.js --host 127.0.0.1 --port "$port" $([ "$EVENTS" = 1 ] || echo --no-events) >"$log" 2>&1 &
            SRV_PID=$! ;;
        mosquitto)
            # mosquitto 2.0.11 binds its websockets listener to every
            # address whatever the config says, and exits if it has no
            # plain listener; so it runs in a network namespace of its own
            # that has only loopback, and loadgen joins that namespace.
            local conf=$LOGDIR/mosquitto-$port.conf
            cat >"$conf" <<EOF
per_listener_settings false
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
max_connections -1
max_queued_messages 1000
listener $((port + 1)) 127.0.0.1
listener $port 127.0.0.1
protocol websockets
EOF
            unshare -n sh -c "ip link set lo up && exec mosquitto -c '$conf'" >"$log" 2>&1 &
            SRV_PID=$!
            RUNIN=(nsenter "--net=/proc/$SRV_PID/ns/net") ;;
        uws)
            # shellcheck disable=SC2046
            "$UWS_RELAY" --host 127.0.0.1 --port "$port" $([ "$EVENTS" = 1 ] || echo --no-events) >"$log" 2>&1 &
            SRV_PID=$! ;;
        lws-mirror)
            libwebsockets-test-server --port="$port" --interface=lo -d 0 >"$log" 2>&1 &
            SRV_PID=$! ;;
    esac
    wait_listening "$name" "$SRV_PID" "$port" "$log" "${RUNIN[@]}" || { stop_server; return 1; }
}
stop_server() {
    [ -n "$SRV_PID" ] || return 0
    stop_pids "$SRV_PID"
    SRV_PID=
}
stop_all() {
    stop_server
    [ -z "$REDIS_PID" ] || { kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; } || true
}
trap 'stop_all' EXIT
trap 'stop_all; exit 130' INT TERM

ACTIVE=()
for s in $SERVERS; do
    if [ "${s%-w*}" = switchboard ] && [ "$SB_CMD" = "$SB_CMD_DEFAULT" ] && [ ! -f examples/relay.lua ]; then
        note "switchboard skipped: examples/relay.lua does not exist yet (set SB_CMD to bench another command)"
        continue
    fi
    if [ "$s" = uws ] && [ -z "$UWS_RELAY" ]; then
        if [ -z "$UWS_SRC" ]; then
            note "uws skipped: give --uws-src DIR (a uWebSockets checkout) or UWS_RELAY=BINARY"
            continue
        fi
        UWS_RELAY=$OUT/uws-relay
        bash bench/peers/uws/build.sh "$UWS_SRC" "${USOCKETS_SRC:-$UWS_SRC/uSockets}" "$UWS_RELAY" >"$LOGDIR/uws-build.log" 2>&1 ||
            { note "uws skipped: bench/peers/uws/build.sh $UWS_SRC failed: $(tail -1 "$LOGDIR/uws-build.log")"; continue; }
    fi
    if [ "$s" = mosquitto ] && ! unshare -n true 2>/dev/null; then
        note "mosquitto skipped: no network namespace here, and its websockets listener would bind every address"
        continue
    fi
    ACTIVE+=("$s")
done

# --- one measured run -----------------------------------------------------
# run_one SCENARIO SERVER REP LOADGEN-ARGS...: fresh server, one loadgen run,
# RESULT line tagged and appended to $RESULTS.
run_one() {
    local scen=$1 srv=$2 rep=$3; shift 3
    local port='' fails=0 _
    for _ in $(seq 100); do
        PORT_NEXT=$((PORT_NEXT + 2))
        if ss -ltnH "( sport = :$PORT_NEXT or sport = :$((PORT_NEXT + 1)) )" | grep -q .; then
            continue
        fi
        if start_server "$srv" "$PORT_NEXT"; then
            port=$PORT_NEXT
            break
        fi
        fails=$((fails + 1))
        [ $fails -lt 3 ] || break
    done
    if [ -z "$port" ]; then
        note "$scen/$srv/rep$rep: server did not start (see $LOGDIR)"
        return 0
    fi
    local line
    line=$(timeout --foreground 900 "${RUNIN[@]}" "$LOADGEN" --proto "$(proto_of "$srv")" --port "$port" \
        --server-pid "$SRV_PID" "${ALSO[@]}" --label "$scen" "$@" 2>>"$LOGDIR/loadgen.err" | tee -a "$LOGDIR/loadgen.out" | grep '^RESULT' || true)
    stop_server
    record_result "$scen" "$srv" "$rep" "$line"
}

# run_churn SCENARIO SERVER REP CHURN-ARGS...: as run_one, with bench/churn.c
run_churn() {
    local scen=$1 srv=$2 rep=$3; shift 3
    PORT_NEXT=$((PORT_NEXT + 2))
    if ! start_server "$srv" "$PORT_NEXT"; then
        note "$scen/$srv/rep$rep: server did not start (see $LOGDIR)"
        return 0
    fi
    local line
    line=$(timeout --foreground 300 "$CHURN" --port "$PORT_NEXT" --server-pid "$SRV_PID" \
        --label "$scen" "$@" 2>>"$LOGDIR/churn.err" | grep '^RESULT' || true)
    stop_server
    if [ -z "$line" ]; then
        note "$scen/$srv/rep$rep: churn gave no result (see $LOGDIR/churn.err)"
        return 0
    fi
    echo "$line server=$srv rep=$rep" >>"$RESULTS"
    echo "  $srv rep$rep: $line"
}

if [ "$QUICK" = 1 ]; then
    W=(--warmup 1 --duration 3 --drain 5); FAN_SUBS="1000"; FAN_SIZES="64"
    ROOM_CONNS=1000; ROOMS=100; IDLE=2000; SLOW_SUBS=200; IDLE_MANY=6000
    BIG_ROOMS=20; BIG_ROOMS_CONNS=1000
else
    W=(--warmup 3 --duration 10 --drain 10); FAN_SUBS="2000 10000"; FAN_SIZES="64 1024"
    ROOM_CONNS=5000; ROOMS=500; IDLE=10000; SLOW_SUBS=200; IDLE_MANY=50000
    BIG_ROOMS=100; BIG_ROOMS_CONNS=5000
fi
if [ -n "$DURATION" ]; then
    W=(--warmup 2 --duration "$DURATION" --drain 5)
fi
# The bench shares the machine: say so when something else is loading it.
busy_check "at start" 0
echo "bench: servers: ${ACTIVE[*]:-none}; reps $REPS; results in $RESULTS"
for scen_kind in $ONLY; do
case $scen_kind in
fanout)
    for n in $FAN_SUBS; do for b in $FAN_SIZES; do
        scen=fanout-$n-${b}B
        # max rate = closed loop: about 8000 deliveries in flight, so the
        # server always has work queued but latency stays bounded
        win=$(( 8000 / n > 2 ? 8000 / n : 2 ))
        echo "== $scen-max: 1 publisher, $n subscribers, $b B, max rate ($win messages in flight)"
        for rep in $(seq "$REPS"); do for s in "${ACTIVE[@]}"; do
            # shellcheck disable=SC2046
            run_one "$scen-max" "$s" "$rep" --conns $((n + 1)) --payload "$b" --rate 0 \
                --window "$win" $(srcips "$n") "${W[@]}"
        done; done
        echo "== $scen-half: same at half of each server's own max rate (latency)"
        for rep in $(seq "$REPS"); do for s in "${ACTIVE[@]}"; do
            max=$(median_of "$scen-max" "$s" msgs_per_s)
            half=$(python3 -c "print(max(1.0, float('${max:-0}' or 0) / 2))")
            # shellcheck disable=SC2046
            run_one "$scen-half" "$s" "$rep" --conns $((n + 1)) --payload "$b" --rate "$half" \
                $(srcips "$n") "${W[@]}"
        done; done
    done; done ;;
fixed)
    # the same offered load for every server, below each one's max rate:
    # CPU per delivery for the same work (workers against one process; at
    # max rate a saturated process batches more per write than two busy
    # ones, which says nothing of what crossing between them costs)
    echo "== rooms100-fixed: $BIG_ROOMS rooms of $((BIG_ROOMS_CONNS / BIG_ROOMS)), $BIG_ROOMS publishers at 40 msg/s each"
    for rep in $(seq "$REPS"); do for s in "${ACTIVE[@]}"; do
        run_one rooms100-fixed "$s" "$rep" --conns "$BIG_ROOMS_CONNS" --channels "$BIG_ROOMS" \
            --pubs "$BIG_ROOMS" --pub-reads --rate 40 "${W[@]}"
    done; done
    echo "== fanout-2000-fixed: 1 publisher, 2000 subscribers, 64 B, 100 msg/s"
    for rep in $(seq "$REPS"); do for s in "${ACTIVE[@]}"; do
        # shellcheck disable=SC2046
        run_one fanout-2000-fixed "$s" "$rep" --conns 2001 --payload 64 --rate 100 \
            $(srcips 2000) "${W[@]}"
    done; done ;;
rooms)
    echo "== rooms: $ROOM_CONNS connections in $ROOMS rooms, each publishing 1 msg/s, then max rate"
    for rep in $(seq "$REPS"); do for s in "${ACTIVE[@]}"; do
        if [ "$s" = lws-mirror ]; then
            [ "$rep" = 1 ] && note "rooms: lws-mirror skipped (its mirror protocol allows 10 instances)"
            continue
        fi
        run_one rooms-1s "$s" "$rep" --conns "$ROOM_CONNS" --channels "$ROOMS" --pubs "$ROOM_CONNS" \
            --pub-reads --rate 1 "${W[@]}"
        run_one rooms-max "$s" "$rep" --conns "$ROOM_CONNS" --channels "$ROOMS" --pubs "$ROOM_CONNS" \
            --pub-reads --rate 0 --window 2 "${W[@]}"
        # 100 rooms of 50 with one publisher each, at max rate: the
        # many-publishers case of issue 16 (quick: 20 rooms)
        run_one rooms100-max "$s" "$rep" --conns "$BIG_ROOMS_CONNS" --channels "$BIG_ROOMS" \
            --pubs "$BIG_ROOMS" --pub-reads --rate 0 --window 8 "${W[@]}"
    done; done
    # the same rooms at half of each server's own max rate (latency, issue
    # 16 item 5); --rate is per publisher
    echo "== rooms100-half: $BIG_ROOMS rooms at half of each server's own max rate (latency)"
    for rep in $(seq "$REPS"); do for s in "${ACTIVE[@]}"; do
        [ "$s" = lws-mirror ] && continue
        max=$(median_of rooms100-max "$s" msgs_per_s)
        half=$(python3 -c "print(max(1.0, float('${max:-0}' or 0) / 2 / $BIG_ROOMS))")
        run_one rooms100-half "$s" "$rep" --conns "$BIG_ROOMS_CONNS" --channels "$BIG_ROOMS" \
            --pubs "$BIG_ROOMS" --pub-reads --rate "$half" "${W[@]}"
    done; done ;;
idle)
    echo "== idle: $IDLE connections, no traffic: server RSS per connection"
    for rep in $(seq "$REPS"); do for s in "${ACTIVE[@]}"; do
        # shellcheck disable=SC2046
        run_one "idle-$IDLE" "$s" "$rep" --conns "$IDLE" --channels 10 --pubs 0 \
            $(srcips "$IDLE") --warmup 0 --duration 2 --drain 0
    done; done ;;
slow)
    # 8 KiB at 100 msg/s: each stopped reader falls 800 KB/s behind, enough
    # to pass kernel buffers within the run at a delivery rate all peers hold
    echo "== slow: 1 publisher at 100 msg/s of 8 KiB, $SLOW_SUBS subscribers, 1% stop reading"
    for rep in $(seq "$REPS"); do for s in "${ACTIVE[@]}"; do
        # shellcheck disable=SC2046
        run_one "slow-$SLOW_SUBS" "$s" "$rep" --conns $((SLOW_SUBS + 1)) --payload 8192 --rate 100 \
            --slow 1 $(srcips "$SLOW_SUBS") "${W[@]}"
    done; done ;;
churn)
    # presence churn: joins and leaves per second, each announced to the
    # room (events on); bench/churn.c connects, waits for the 101, closes
    EVENTS=1
    for size in 10 1000; do
        if [ "$size" = 10 ]; then rooms=100; per=2; else rooms=5; per=10; fi
        [ "$QUICK" = 1 ] && [ "$size" = 1000 ] && rooms=2
        echo "== churn-$size: $rooms rooms of $size, $per churners each, events on"
        for rep in $(seq "$REPS"); do for s in "${ACTIVE[@]}"; do
            case $s in switchboard|uws|node-ws) ;; *) continue ;; esac
            run_churn "churn-$size" "$s" "$rep" --rooms "$rooms" --room-size "$size" \
                --churners "$per" --warmup 1 --duration "${W[3]}"
        done; done
    done
    # the same rooms over open Phoenix sockets with Presence: churners join
    # and leave the topic, every member gets a presence_diff each time
    # (switchboard only: the peers have no joins on an open socket)
    case " ${ACTIVE[*]} " in *" switchboard "*)
        SB_CMD_SAVED=$SB_CMD
        SB_CMD='lua5.4 bench/churn_server.lua --port PORT'
        for size in 10 1000; do
            if [ "$size" = 10 ]; then rooms=100; per=2; else rooms=5; per=10; fi
            [ "$QUICK" = 1 ] && [ "$size" = 1000 ] && rooms=2
            echo "== churn-phx-$size: Phoenix Presence, $rooms rooms of $size, $per churners each"
            for rep in $(seq "$REPS"); do
                run_churn "churn-phx-$size" switchboard "$rep" --proto phoenix --rooms "$rooms" \
                    --room-size "$size" --churners "$per" --warmup 1 --duration "${W[3]}"
            done
        done
        SB_CMD=$SB_CMD_SAVED ;;
    esac
    EVENTS=0 ;;
idlemany)
    # past one process's 19,900 sockets: only servers with several
    # processes (switchboard-wN) take part; loadgen forks 3 clients
    echo "== idle-many: $IDLE_MANY connections over several processes: server RSS per connection"
    # the switchboard-wN servers asked for, or 3 workers (~17k sockets each)
    many=()
    for s in "${ACTIVE[@]}"; do case $s in switchboard-w*) many+=("$s") ;; esac; done
    [ ${#many[@]} -gt 0 ] || many=(switchboard-w3)
    for rep in $(seq "$REPS"); do for s in "${many[@]}"; do
        run_one "idle-$IDLE_MANY" "$s" "$rep" --conns "$IDLE_MANY" --channels 10 --pubs 0 \
            --procs 3 --src-ips 4 --connect-timeout 60 --warmup 0 --duration 2 --drain 0
    done; done ;;
*) echo "run.sh: unknown scenario $scen_kind" >&2; exit 2 ;;
esac
done

busy_check "at the end" 2
python3 bench/table.py --table <"$RESULTS" | tee "$OUT/table-$STAMP.txt"
echo "bench: raw results $RESULTS, table $OUT/table-$STAMP.txt"
