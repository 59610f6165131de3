#!/usr/bin/env bash
# Runs the busted specs on one Lua and records "LABEL: N passed, M failed".
#   run-specs.sh lua5.4|lua5.1|luajit|valgrind CPATH_DIR
set -uo pipefail
label=$1 cdir=$2
cd "$(dirname "$0")/.."
mkdir -p .build
log=.build/specs-$label.log
export LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;"
export LUA_CPATH="$cdir/?.so;;"
export SB_SPEC_LUA=$label
if [ "$label" = valgrind ]; then
    export LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;/usr/share/lua/5.4/?.lua;/usr/share/lua/5.4/?/init.lua;;"
    # the hub (pure C), the transport and the cluster (Redis link, shared
    # history, cross-node presence), under memcheck; lws's own context
    # allocations are suppressed (scripts/valgrind.supp)
    cmd=(valgrind -q --keep-debuginfo=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
         --show-leak-kinds=definite --suppressions=scripts/valgrind.supp
         lua5.4 /usr/bin/busted --run=ci -o utfTerminal
         spec/hub_spec.lua spec/hub_property_spec.lua spec/hub_presence_spec.lua
         spec/native_spec.lua spec/native_binary_spec.lua spec/client_spec.lua spec/loop_spec.lua spec/phoenix_spec.lua
         spec/hub_history_rules_spec.lua spec/sse_spec.lua spec/recovery_spec.lua
         spec/hub_cluster_spec.lua spec/redis_history_spec.lua spec/redis_cross_spec.lua
         spec/channel_rules_spec.lua spec/shutdown_spec.lua spec/lifetime_spec.lua
         spec/hub_timer_spec.lua spec/json_decode_spec.lua spec/longpoll_spec.lua
         spec/deflate_spec.lua)
elif [ "$label" = asan ]; then
    # The C module is built with ASan+UBSan; the interpreter is not, so
    # the ASan runtime has to be loaded first.  Leak checking stays off:
    # at exit it reports what lua5.4 and the other C modules (luasocket,
    # cjson) keep, not ours; valgrind checks our leaks.  UBSan stays fatal.
    export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
    cmd=(lua5.4 /usr/bin/busted --run=ci -o utfTerminal spec)
else
    cmd=(busted --run=ci --lua="$label" -o utfTerminal spec)
fi
echo "== specs on $label"
"${cmd[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors?' | tail -n 1)
ok=$(grep -oE '^[0-9]+' <<<"$line" || echo 0)
fail=$(grep -oE '[0-9]+ failures?' <<<"$line" | grep -oE '[0-9]+' || echo 0)
err=$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || echo 0)
[ -n "$line" ] || { ok=0; fail=1; }
[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && [ "$err" -eq 0 ] && fail=1
echo "$label: $ok passed, $((fail + err)) failed" | tee -a .build/results.txt
exit "$rc"
