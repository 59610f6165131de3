# shellcheck shell=bash
# Shell shared by bench/run.sh and bench/cluster.sh (sourced, not run):
# where results go, the C tools, free ports, a redis-server of the
# bench's own, starting and stopping servers, and recording RESULT lines.
# The caller has cd'd to the repository root and set ROOT.

# bench_output PREFIX: $OUT, $STAMP, $RESULTS ($OUT/PREFIXresults-STAMP.txt,
# emptied) and $LOGDIR ($OUT/PREFIXlogs-STAMP/).
bench_output() {
    OUT=$ROOT/.build/bench
    mkdir -p "$OUT"
    STAMP=$(date -u +%Y%m%dT%H%M%SZ)
    RESULTS=$OUT/$1results-$STAMP.txt
    LOGDIR=$OUT/$1logs-$STAMP
    mkdir -p "$LOGDIR"
    : >"$RESULTS"
}

# note TEXT: to stderr, and as a NOTE line into the results.
note() { echo "bench: $*" >&2; echo "NOTE $*" >>"$RESULTS"; }

# build_tool NAME: bench/NAME.c into $OUT/NAME when that is missing or older.
build_tool() {
    if [ ! -x "$OUT/$1" ] || [ "bench/$1.c" -nt "$OUT/$1" ]; then
        gcc -O2 -std=c99 -Wall -Wextra -Werror -o "$OUT/$1" "bench/$1.c" -lz
    fi
}

# Server ports come from below the ephemeral range, so that no client
# socket on the machine can hold one; a port found taken is skipped.
EPH_LO=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
PORT_SPAN=$(( EPH_LO > 12000 ? EPH_LO - 11000 : 1000 ))
PORT_NEXT=$((10000 + RANDOM % (PORT_SPAN / 2)))
# next_port: sets PORT to the next free one (not in a subshell: the
# counter must move on for the next caller).
PORT=
# shellcheck disable=SC2034  # PORT is the sourcing script's
next_port() {
    while :; do
        PORT_NEXT=$((PORT_NEXT + 1))
        ss -ltnH "sport = :$PORT_NEXT" | grep -q . || { PORT=$PORT_NEXT; return; }
    done
}

# launch_redis PORT LOGFILE: a redis-server on 127.0.0.1:PORT without
# persistence; sets REDIS_PORT and REDIS_PID and waits until it answers.
REDIS_PID=
REDIS_PORT=
launch_redis() {
    REDIS_PORT=$1
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --logfile "$2" >/dev/null 2>&1 &
    # shellcheck disable=SC2034  # REDIS_PID is the sourcing script's
    REDIS_PID=$!
    for _ in $(seq 50); do
        redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    echo "bench: redis-server did not start" >&2
    return 1
}

# wait_listening NAME PID PORT LOG [CMD...]: waits up to 10 s until PORT
# listens (checked through CMD, e.g. nsenter, when given); 1 when the
# process exited first (its log's tail shown) or the time ran out.
wait_listening() {
    local name=$1 pid=$2 port=$3 log=$4; shift 4
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "bench: $name exited at start:" >&2; tail -5 "$log" >&2; return 1
        fi
        if "$@" ss -ltnH "sport = :$port" 2>/dev/null | grep -q LISTEN; then
            sleep 0.2; return 0
        fi
        sleep 0.1
    done
    echo "bench: $name did not listen on $port within 10 s" >&2
    return 1
}

# stop_pids PID...: SIGTERM to each, then up to 5 s for each to exit
# before SIGKILL.
stop_pids() {
    local p
    for p in "$@"; do kill "$p" 2>/dev/null || true; done
    for p in "$@"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}

# record_result SCENARIO SERVER REP LINE: LINE (loadgen's RESULT line)
# tagged server= and rep= into the results, and its summary; a note when
# loadgen gave none.
record_result() {
    if [ -z "$4" ]; then
        note "$1/$2/rep$3: loadgen gave no result (see $LOGDIR/loadgen.err)"
        return 0
    fi
    echo "$4 server=$2 rep=$3" >>"$RESULTS"
    echo "  $2 rep$3: $(python3 bench/table.py --brief <<<"$4")"
}

# median_of SCENARIO SERVER KEY: the median of KEY over the RESULT lines of
# SCENARIO for SERVER.
median_of() {
    python3 bench/table.py --median "$1" "$2" "$3" <"$RESULTS"
}

srcips() { if [ "$1" -gt 5000 ]; then echo "--src-ips 4"; else echo "--src-ips 1"; fi; }

# busy_check WHEN CORES: a note when the load average is over half the
# cores plus CORES (the load this bench itself accounts for): the numbers
# are skewed by other work.
busy_check() {
    local load cores
    load=$(cut -d' ' -f1 /proc/loadavg)
    cores=$(nproc)
    if python3 -c "import sys; sys.exit(0 if $load > $cores * 0.5 + $2 else 1)"; then
        note "machine busy $1: load average $load on $cores cores; numbers are skewed by other work"
    fi
}
