#!/usr/bin/env bash
# Builds and runs spec/c/hub_oom.c (the C hub with every allocation made to
# fail in turn) under valgrind: ENOMEM must leave the state unchanged and
# nothing may leak.
set -euo pipefail
# under make test-asan the ASan runtime is preloaded; valgrind and ASan
# cannot share a process
unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
cd "$(dirname "$0")/.."
mkdir -p .build
gcc -O0 -g -std=c99 -Wall -Wextra -Werror -D_GNU_SOURCE -Icsrc \
    spec/c/hub_oom.c csrc/hub/hub.c csrc/hub/hub_cluster.c csrc/hub/hub_history.c \
    csrc/hub/hub_msg.c csrc/hub/hub_query.c csrc/hub/hub_typing.c csrc/base/map.c csrc/base/buf.c \
    csrc/base/frame.c csrc/base/str.c csrc/hub/names.c -Wl,--wrap=malloc,--wrap=calloc -o .build/hub_oom
valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    .build/hub_oom
