#!/usr/bin/env bash
# Builds every spec/c/test_*.c against the codec sources with ASan+UBSan,
# runs each, and records one line "ctest: N passed, M failed".  A test
# program that fails to build, crashes or reports no line counts as one
# failure, so a sanitizer abort can never look like a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
out=.build/ctest
mkdir -p "$out"
CC=${CC:-cc}
flags=(-std=c99 -Wall -Wextra -Werror -D_GNU_SOURCE -g -O1
       -fsanitize=address,undefined -fno-sanitize-recover=all
       -fno-omit-frame-pointer -Icsrc -Ispec/c)
srcs=(csrc/base/buf.c csrc/codec/codec.c csrc/base/utf8.c csrc/codec/json.c csrc/codec/url.c csrc/codec/msgid.c csrc/codec/envelope.c
      csrc/protocols/native/proto_native.c csrc/protocols/phoenix/proto_phoenix.c csrc/protocols/phoenix/proto_longpoll.c
      csrc/protocols/sse/proto_sse.c csrc/codec/token.c
      csrc/hub/names.c csrc/protocols/sse/sse_request.c csrc/protocols/api/proto_api.c
      csrc/protocols/pusher/proto_pusher.c
      csrc/codec/md5.c csrc/protocols/pusher_api/proto_pusher_api.c
      csrc/net/wsparse.c csrc/net/upgrade.c csrc/net/upgrade_ws.c
      csrc/base/frame.c csrc/net/deflate.c csrc/net/deflate_offer.c csrc/net/queue.c)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
pass=0 fail=0
for t in spec/c/test_*.c; do
    name=$(basename "$t" .c)
    if ! "$CC" "${flags[@]}" -o "$out/$name" "$t" "${srcs[@]}" -lcrypto -lz -lwebsockets; then
        echo "$name: build failed"
        fail=$((fail + 1))
        continue
    fi
    "$out/$name" >"$out/$name.log" 2>&1
    rc=$?
    cat "$out/$name.log"
    line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed$" "$out/$name.log" |
           tail -n 1)
    if [ -z "$line" ]; then
        echo "$name: crashed (exit $rc)"
        fail=$((fail + 1))
        continue
    fi
    p=$(awk '{ print $2 }' <<<"$line")
    f=$(awk '{ print $4 }' <<<"$line")
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    pass=$((pass + p)) fail=$((fail + f))
done
echo "ctest: $pass passed, $fail failed" | tee -a .build/results.txt
[ "$fail" -eq 0 ]
