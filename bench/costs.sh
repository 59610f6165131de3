#!/usr/bin/env bash
# The known costs of bench/RESULTS.md ("Known costs"), before and after:
#   bash bench/costs.sh [BEFORE_TREE]
# BEFORE_TREE: a checkout of an older commit, built with `make build` (its
# lua_modules); without it only this tree is measured.  Run from anywhere;
# this tree must be built too.  Sizes: CLOSE_SIZES, DIRECT_SIZES; REPS.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
before=${1:-}
cd "$here"
mkdir -p .build
export LUA_PATH="lua/?.lua;lua/?/init.lua;;"
close_sizes=${CLOSE_SIZES:-1000 2000 4000}
direct_sizes=${DIRECT_SIZES:-10 1000 4000}

# The pending list: bench/costs_order.c over each tree's cluster_order.c.
order_bin() {
    local tree=$1 out=$2
    gcc -O2 -std=c99 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$tree/csrc" \
        bench/costs_order.c "$tree/csrc/cluster/cluster_order.c" \
        "$tree"/csrc/hub/{hub,hub_cluster,hub_history,hub_msg,hub_query,hub_typing,names}.c \
        "$tree"/csrc/base/{map,buf,frame,str}.c -o "$out"
}

labels=(after)
trees=("$here")
if [ -n "$before" ]; then
    labels=(before after)
    trees=("$before" "$here")
fi
for i in "${!trees[@]}"; do
    order_bin "${trees[$i]}" ".build/costs_order_${labels[$i]}"
done
for i in "${!trees[@]}"; do
    ".build/costs_order_${labels[$i]}" "${labels[$i]}"
done
# The server's close and the native direct message: each build's C module
# under the same Lua code (this tree's lua/).
for i in "${!trees[@]}"; do
    cpath="${trees[$i]}/lua_modules/lib/lua/5.4/?.so;;"
    echo "== ${labels[$i]}"
    # shellcheck disable=SC2086
    LUA_CPATH=$cpath lua5.4 bench/costs.lua close $close_sizes
    # shellcheck disable=SC2086
    LUA_CPATH=$cpath SB_SERVER_LUA_CPATH=$cpath lua5.4 bench/costs.lua direct $direct_sizes
done
