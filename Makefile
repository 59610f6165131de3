# switchboard: the two commands a newcomer types are `make demo` and
# `make test`; both install what they need first (Debian 12, as root or with
# sudo).  Each Lua version gets its own build of the C module in its own tree.
SHELL := /bin/bash
.DEFAULT_GOAL := build

DEB_PKGS := gcc make pkg-config lua5.4 liblua5.4-dev lua5.1 liblua5.1-0-dev \
	luajit libluajit-5.1-dev luarocks lua-busted lua-cjson lua-check \
	libwebsockets-dev libuv1-dev redis-server libhiredis-dev zlib1g-dev lua-luv \
	lua-cqueues lua-socket valgrind clang libclang-rt-14-dev libssl-dev openssl \
	lua-ldoc lua-discount git chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The feature-test macro (_GNU_SOURCE) comes from the rockspec, so a plain
# `luarocks make` gets it too.
CFLAGS_SB ?= -O2 -g -fPIC -std=c99 -Wall -Wextra -Werror
TREE54 := lua_modules
TREE51 := .build/lua51
TREEJIT := .build/luajit
SOURCES := $(wildcard csrc/*/*.c csrc/*/*.h csrc/*/*/*.c csrc/*/*/*.h lua/switchboard/*.lua bin/*) switchboard-scm-1.rockspec
ROCKSPEC := switchboard-scm-1.rockspec
PORT ?= 8080

.PHONY: deps build build-all demo test check lint specs specs-54 specs-51 specs-jit \
	valgrind node-deps clean docs docs-check rock browser screenshots

deps: .build/deps.stamp

# Installs only what is missing, so a second run costs no apt call.  Redone
# when the Makefile changes, so a machine picks up packages added to DEB_PKGS.
.build/deps.stamp: Makefile
	@mkdir -p .build
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

$(TREE54)/.stamp: .build/deps.stamp $(SOURCES)
	luarocks --lua-version 5.4 --tree $(TREE54) make --deps-mode=none $(ROCKSPEC) \
	  CFLAGS="$(CFLAGS_SB)" >.build/build-5.4.log 2>&1 || { cat .build/build-5.4.log; exit 1; }
	@touch $@

$(TREE51)/.stamp: .build/deps.stamp $(SOURCES)
	luarocks --lua-version 5.1 --tree $(TREE51) make --deps-mode=none $(ROCKSPEC) \
	  CFLAGS="$(CFLAGS_SB)" >.build/build-5.1.log 2>&1 || { cat .build/build-5.1.log; exit 1; }
	@touch $@

$(TREEJIT)/.stamp: .build/deps.stamp $(SOURCES)
	luarocks --lua-version 5.1 --tree $(TREEJIT) make --deps-mode=none $(ROCKSPEC) \
	  LUA_INCDIR=/usr/include/luajit-2.1 CFLAGS="$(CFLAGS_SB)" \
	  >.build/build-luajit.log 2>&1 || { cat .build/build-luajit.log; exit 1; }
	@touch $@

build: $(TREE54)/.stamp
build-all: $(TREE54)/.stamp $(TREE51)/.stamp $(TREEJIT)/.stamp

demo: build
	LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(TREE54)/lib/lua/5.4/?.so;;" \
	  lua5.4 examples/chat.lua --port $(PORT)

# Only the directories that exist: examples/ and bench/ come later.
lint: deps
	luacheck -q $(wildcard lua spec examples bench bin)

node-deps: deps
	@bash scripts/node-deps.sh

specs-54: $(TREE54)/.stamp
	@bash scripts/run-specs.sh lua5.4 $(TREE54)/lib/lua/5.4
specs-51: $(TREE51)/.stamp
	@bash scripts/run-specs.sh lua5.1 $(TREE51)/lib/lua/5.1
specs-jit: $(TREEJIT)/.stamp
	@bash scripts/run-specs.sh luajit $(TREEJIT)/lib/lua/5.1

# The C core under valgrind: the hub and transport specs must show no
# memory error and no definite leak (lws context internals suppressed,
# see scripts/valgrind.supp).
valgrind: $(TREE54)/.stamp
	@bash scripts/run-specs.sh valgrind $(TREE54)/lib/lua/5.4

# The example pages in Chromium alone (they are part of specs-54 too);
# `make screenshots` runs them with their screenshots going to docs/img/
# (commit those) instead of .build/screenshots/.
BROWSER_SPECS := spec/browser_chat_spec.lua spec/browser_pages_spec.lua spec/browser_longpoll_spec.lua
browser: $(TREE54)/.stamp node-deps
	@LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="$(TREE54)/lib/lua/5.4/?.so;;" \
	  busted --lua=lua5.4 --run=ci -o utfTerminal $(BROWSER_SPECS)
screenshots: $(TREE54)/.stamp node-deps
	@SB_SCREENSHOTS=docs/img $(MAKE) --no-print-directory browser

specs: specs-54 specs-51 specs-jit valgrind
	@bash scripts/summary.sh

test: deps build-all lint docs-check node-deps
	@rm -f .build/results.txt
	@$(MAKE) --no-print-directory -k specs-54 specs-51 specs-jit valgrind ctest \
	  fuzz-smoke test-asan rock; rc=$$?; \
	  bash scripts/summary.sh; exit $$rc

# The quick run while working: Lua 5.4 only, lint and the reference check
# included, no valgrind, sanitizers or other Lua versions.
check: build lint docs-check
	@rm -f .build/results.txt
	@$(MAKE) --no-print-directory specs-54; rc=$$?; bash scripts/summary.sh; exit $$rc

# The API reference (LDoc, config.ld) into docs/api/.  docs-check fails when
# a public function has no doc comment or when docs/api/ is not what the
# sources generate (run `make docs` and commit).
docs: deps
	@bash scripts/docs.sh build
docs-check: deps
	@bash scripts/docs.sh check

# The rock as a user's machine builds it: clang with implicit declarations
# as errors, and `luarocks pack` + `luarocks build` from this checkout with
# luarocks' own flags (scripts/portability.sh).
rock: deps
	@bash scripts/portability.sh

clean:
	rm -rf $(TREE54) .build

# The codecs' C unit tests (spec/c/test_*.c), built into .build/ctest/ with
# ASan and UBSan and the strict flags; appends "ctest: N passed, M failed"
# to .build/results.txt like the busted runs do.
.PHONY: ctest
ctest: .build/deps.stamp
	@bash scripts/run-ctest.sh

# Load test against the peers (Node ws, mosquitto, lws mirror) and, once
# examples/relay.lua exists, switchboard itself: `make bench BENCH_ARGS=--quick`.
.PHONY: bench
bench: deps
	bash bench/run.sh $(BENCH_ARGS)

# The join/leave storm of issue 18 on one channel, 2k/8k/20k connections:
# `make bench-storm STORM_ARGS='--sizes 2000 --reps 3'`; a first word that
# is a directory benches that checkout instead (bench/storm.sh).
.PHONY: bench-storm
bench-storm: deps
	bash bench/storm.sh $(STORM_ARGS)

# libFuzzer targets (fuzz/fuzz_*.c), one per codec and parser, each run for
# FUZZ_SECONDS from its seed corpus in fuzz/corpus/; appends
# "fuzz: N passed, M failed" to .build/results.txt.  fuzz-smoke is the
# short run CI does (5 s a target from the seeds, to keep CI under its
# 20 minutes with fourteen targets; `make fuzz` for a real run).
FUZZ_SECONDS ?= 60
.PHONY: fuzz fuzz-smoke
fuzz: .build/deps.stamp
	@bash scripts/run-fuzz.sh $(FUZZ_SECONDS)
fuzz-smoke: .build/deps.stamp
	@bash scripts/run-fuzz.sh 5

# The whole busted suite on Lua 5.4 against a build of the C module with
# AddressSanitizer and UBSan (own tree, so the normal build stays fast);
# appends "asan: N passed, M failed".
TREEASAN := .build/asan
CFLAGS_ASAN := -O1 -g -fPIC -std=c99 -Wall -Wextra -Werror \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
.PHONY: test-asan
$(TREEASAN)/.stamp: .build/deps.stamp $(SOURCES)
	luarocks --lua-version 5.4 --tree $(TREEASAN) make --deps-mode=none $(ROCKSPEC) \
	  CFLAGS="$(CFLAGS_ASAN)" LIBFLAG="-shared -fsanitize=address,undefined" \
	  >.build/build-asan.log 2>&1 || { cat .build/build-asan.log; exit 1; }
	@touch $@
test-asan: $(TREEASAN)/.stamp
	@bash scripts/run-specs.sh asan $(TREEASAN)/lib/lua/5.4
