#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.c as a libFuzzer target (clang, ASan + UBSan,
# the strict warning flags) and runs each for SECONDS seconds from its
# committed seed corpus, then appends "fuzz: N passed, M failed".  A target
# that fails to build, crashes, leaks or trips a FUZZ_CHECK counts as one
# failure; its reproducer is kept in .build/fuzz/<target>/ and the command
# to replay it is printed.
#   run-fuzz.sh [SECONDS]   (default 60)
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
out=.build/fuzz
mkdir -p "$out"
CC=${FUZZ_CC:-clang}
flags=(-std=c99 -Wall -Wextra -Werror -D_GNU_SOURCE -g -O1
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -fno-omit-frame-pointer -Icsrc -Ifuzz)
srcs=(csrc/base/buf.c csrc/codec/codec.c csrc/base/utf8.c csrc/codec/json.c csrc/codec/url.c csrc/codec/msgid.c csrc/codec/envelope.c
      csrc/protocols/native/proto_native.c csrc/protocols/phoenix/proto_phoenix.c csrc/protocols/phoenix/proto_longpoll.c
      csrc/protocols/sse/proto_sse.c csrc/codec/token.c
      csrc/hub/names.c csrc/protocols/sse/sse_request.c csrc/protocols/api/proto_api.c
      csrc/protocols/pusher/proto_pusher.c
      csrc/codec/md5.c csrc/protocols/pusher_api/proto_pusher_api.c
      csrc/net/wsparse.c csrc/net/upgrade.c csrc/net/upgrade_ws.c csrc/net/deflate_offer.c)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The codecs are compiled once (instrumented for coverage, not linked
# with the fuzzer's main), then each target links against them: far
# quicker than compiling every codec for every target.
objs=()
for src in "${srcs[@]}"; do
    o="$out/$(basename "$src" .c).o"
    objs+=("$o")
    "$CC" "${flags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" -c \
        -o "$o" "$src" || { echo "fuzz: 0 passed, 1 failed" | tee -a .build/results.txt; exit 1; }
done
for t in fuzz/fuzz_*.c; do
    name=$(basename "$t" .c)
    dir="$out/$name"
    mkdir -p "$dir/corpus" "$dir/crashes"
    rm -f "$dir/$name"
    "$CC" "${flags[@]}" -o "$dir/$name" "$t" "${objs[@]}" -lcrypto \
        >"$dir/build.log" 2>&1
done
# One target: run it, then print its verdict into $dir/verdict.
run_one() {
    local name=$1 target=${1#fuzz_} dir="$out/$1" start rc took stats
    if [ ! -x "$dir/$name" ]; then
        cat "$dir/build.log"
        echo "$name: build failed" >"$dir/verdict"
        return
    fi
    rm -f "$dir"/crashes/*
    # new inputs go to the scratch corpus, never into the committed seeds
    start=$(date +%s)
    "$dir/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$dir/crashes/" \
        "$dir/corpus" "fuzz/corpus/$target" >"$dir/run.log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    stats=$(grep -E '^stat::number_of_executed_units' "$dir/run.log" | awk '{print $2}')
    if [ "$rc" -eq 0 ]; then
        echo "$name: ok, ${stats:-?} runs in ${took}s" >"$dir/verdict"
    else
        { grep -E 'check failed|ERROR|runtime error' "$dir/run.log" | head -n 5
          echo "$name: FAILED (exit $rc); replay with: $dir/$name $dir/crashes/<file>"
        } >"$dir/verdict"
    fi
}
# two at a time: the machine has two cores
names=()
for t in fuzz/fuzz_*.c; do
    names+=("$(basename "$t" .c)")
done
for ((i = 0; i < ${#names[@]}; i += 2)); do
    run_one "${names[i]}" &
    [ $((i + 1)) -lt ${#names[@]} ] && run_one "${names[i + 1]}" &
    wait
done
pass=0 fail=0
for name in "${names[@]}"; do
    cat "$out/$name/verdict"
    if grep -q ": ok," "$out/$name/verdict"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
    fi
done
echo "fuzz: $pass passed, $fail failed" | tee -a .build/results.txt
[ "$fail" -eq 0 ]
