#!/usr/bin/env bash
# Builds the rock the ways a user's machine would, outside the Makefile's
# flags, and records "rock: N passed, M failed" in .build/results.txt:
#   1. clang with -Werror=implicit-function-declaration (what GCC 14 and
#      clang 16 make the default): every declaration the sources use must
#      come from the rockspec's own defines, not from our CFLAGS;
#   2. `luarocks pack` of the committed tree through a git+file:// copy of
#      the rockspec, then `luarocks build` of that .src.rock with luarocks'
#      own flags, into a scratch tree; the built module must load and the
#      docs must be installed next to it.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=.build/rock
rm -rf "$out" && mkdir -p "$out"
pass=0 fail=0
step() { # step NAME CMD...: runs CMD, logs to $out/NAME.log
    local name=$1; shift
    if "$@" >"$out/$name.log" 2>&1; then
        echo "rock: $name ok"; pass=$((pass + 1))
    else
        echo "rock: $name FAILED"; tail -n 30 "$out/$name.log"; fail=$((fail + 1))
    fi
}

clang_build() {
    luarocks --lua-version 5.4 --tree "$out/clang" make --deps-mode=none \
      switchboard-scm-1.rockspec CC=clang LD=clang \
      CFLAGS="-O2 -fPIC -std=c99 -Wall -Wextra -Werror -Werror=implicit-function-declaration" &&
    LUA_CPATH="$out/clang/lib/lua/5.4/?.so" lua5.4 -e 'assert(require("switchboard.core").version)'
}

pack_and_build() {
    sed "s|^   url = .*|   url = \"git+file://$root\",|" switchboard-scm-1.rockspec \
      >"$out/switchboard-scm-1.rockspec" &&
    (cd "$out" && luarocks --lua-version 5.4 pack switchboard-scm-1.rockspec) &&
    luarocks --lua-version 5.4 --tree "$out/tree" build --deps-mode=none \
      "$out/switchboard-scm-1.src.rock" &&
    LUA_PATH="$out/tree/share/lua/5.4/?.lua;$out/tree/share/lua/5.4/?/init.lua;;" \
      LUA_CPATH="$out/tree/lib/lua/5.4/?.so;;" \
      lua5.4 -e 'local sb = require("switchboard")
        local s = assert(sb.listen{ port = 0 }); s:close()
        assert(sb.connect("ws://127.0.0.1:1/c/x", { reconnect = false }))
        require("switchboard.cli"); require("switchboard.phoenix")' &&
    test -f "$out/tree/lib/luarocks/rocks-5.4/switchboard/scm-1/docs/api/index.html" &&
    test -f "$out/tree/lib/luarocks/rocks-5.4/switchboard/scm-1/docs/protocols.md"
}

# every Lua module and every C source of the tree is in the rockspec
listed() {
    local f missing=0
    for f in lua/switchboard/*.lua $(find csrc -name '*.c' | sort); do
        grep -q "\"$f\"" switchboard-scm-1.rockspec || { echo "not in the rockspec: $f"; missing=1; }
    done
    return $missing
}

step listed listed
step clang clang_build
step pack-build pack_and_build
echo "rock: $pass passed, $fail failed" | tee -a .build/results.txt
[ "$fail" -eq 0 ]
