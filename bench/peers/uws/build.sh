#!/usr/bin/env bash
# Builds the uWebSockets peer relay (relay.cpp) against a uWebSockets
# source checkout the caller gives; nothing is fetched and nothing of uWS
# is kept in this repository.
#
#   bash bench/peers/uws/build.sh [--zlib] UWS_DIR [USOCKETS_DIR] [OUT]
#
# --zlib: with permessage-deflate (links zlib; the relay's --compression
# then turns on uWS's shared compressor).
# UWS_DIR: a checkout of github.com/uNetworking/uWebSockets (tested at
# 66dcff3).  USOCKETS_DIR: its uSockets (default UWS_DIR/uSockets, the
# submodule; tested at 86097c4).  OUT: the binary (default
# .build/bench/uws-relay).  Plain TCP (LIBUS_NO_SSL), no zlib, epoll, -O3
# with LTO, the way uWS's own Makefile builds its examples.  Objects go
# under .build/bench/uws-obj/, never into the checkouts.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ZLIB=0
if [ "${1:-}" = --zlib ]; then ZLIB=1; shift; fi
[ $# -ge 1 ] || { sed -n 2,16p "$0"; exit 2; }
UWS=$(cd "$1" && pwd)
US=${2:-$UWS/uSockets}
OUT=${3:-.build/bench/uws-relay}
[ -f "$UWS/src/App.h" ] || { echo "build.sh: $UWS has no src/App.h (a uWebSockets checkout?)" >&2; exit 2; }
[ -f "$US/src/libusockets.h" ] || { echo "build.sh: $US has no src/libusockets.h (give the uSockets checkout)" >&2; exit 2; }
US=$(cd "$US" && pwd)
command -v g++ >/dev/null || { echo "build.sh: g++ is needed (apt-get install g++)" >&2; exit 2; }
OBJ=.build/bench/uws-obj
mkdir -p "$OBJ" "$(dirname "$OUT")"
FLAGS=(-O3 -flto -DLIBUS_NO_SSL -I"$US/src")
LIBS=(-lz)
if [ "$ZLIB" = 0 ]; then FLAGS+=(-DUWS_NO_ZLIB); LIBS=(); fi
for c in "$US"/src/*.c "$US"/src/eventing/*.c "$US"/src/crypto/*.c; do
    gcc -std=c11 "${FLAGS[@]}" -c "$c" -o "$OBJ/$(basename "$c" .c).o"
done
g++ -std=c++20 "${FLAGS[@]}" -I"$UWS/src" bench/peers/uws/relay.cpp "$OBJ"/*.o "${LIBS[@]}" -o "$OUT"
echo "built $OUT (uWebSockets $(git -C "$UWS" rev-parse --short HEAD 2>/dev/null || echo '?'), uSockets $(git -C "$US" rev-parse --short HEAD 2>/dev/null || echo '?'))"
