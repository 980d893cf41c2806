# genesys.tokens — development build. `make test` and `make demo` are all a
# newcomer on Debian needs: both install missing packages first (make deps).

# LUA_VERSION is 5.1, 5.2, 5.3, 5.4 or luajit (OpenResty's LuaJIT 2.1).
LUA_VERSION ?= 5.4
ifeq ($(LUA_VERSION),luajit)
LUA         ?= luajit
LUA_INCDIR  ?= /usr/include/luajit-2.1
LUA_ABI     := 5.1
else
LUA         ?= lua$(LUA_VERSION)
LUA_INCDIR  ?= /usr/include/lua$(LUA_VERSION)
LUA_ABI     := $(LUA_VERSION)
endif
PREFIX      ?= /usr/local
LUA_LIBDIR  ?= $(PREFIX)/lib/lua/$(LUA_ABI)
LUA_SHAREDIR ?= $(PREFIX)/share/lua/$(LUA_ABI)
# Every runtime `make test-all` runs the specs on.
LUA_VERSIONS := 5.1 5.2 5.3 5.4 luajit
BINDIR      ?= $(PREFIX)/bin
BUSTED      ?= /usr/bin/busted

CURL_CFLAGS := $(shell pkg-config --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)

CFLAGS  ?= -O2 -g
WARN    := -std=c99 -Wall -Wextra -Werror -pedantic
ALL_CFLAGS := $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -I$(LUA_INCDIR) $(CURL_CFLAGS)
LIBFLAG ?= -shared

BUILD   ?= build/$(LUA_VERSION)
MODULE  := $(BUILD)/genesys/tokens/core.so
SOURCES := src/gt_buffer.c src/gt_url.c src/gt_headers.c src/gt_transfer.c src/gt_client.c src/lua_core.c
OBJECTS := $(SOURCES:src/%.c=$(BUILD)/obj/%.o)
# The command's signal handling: a module of its own (process-wide state).
SIGNALS_MODULE := $(BUILD)/genesys/tokens/cli/signals.so
HEADERS := $(wildcard src/*.h)

LUA_PATH_BUILD  := ./lua/?.lua;./lua/?/init.lua;./?.lua
LUA_CPATH_BUILD := ./$(BUILD)/?.so

.PHONY: all deps test test-all lint spec demo docs install uninstall valgrind asan soak clean print bench-bulk

all: $(MODULE) $(SIGNALS_MODULE)

$(BUILD)/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(MODULE): $(OBJECTS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) -o $@ $(OBJECTS) $(CURL_LIBS) $(LDFLAGS)

$(SIGNALS_MODULE): $(BUILD)/obj/lua_signals.o
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) -o $@ $< $(LDFLAGS)

deps:
	@sh tools/deps.sh

lint:
	luacheck --quiet lua spec examples bin

# The API reference, from the public modules' doc comments (config.ld), in
# build/docs/ (index.html). Any LDoc warning fails it: see tools/docs.sh.
docs: deps
	@sh tools/docs.sh

# The OpenResty specs load the core into nginx's LuaJIT: build that too.
spec: $(MODULE)
	$(MAKE) --no-print-directory LUA_VERSION=luajit all
	LUA=$(LUA) $(LUA) $(BUSTED) --lpath='$(LUA_PATH_BUILD)' --cpath='$(LUA_CPATH_BUILD)' $(BUSTED_ARGS) spec

test: deps
	$(MAKE) all
	$(MAKE) lint
	$(MAKE) spec

# The whole suite on every runtime: each builds its own core.so.
test-all: deps
	$(MAKE) lint
	set -e; for v in $(LUA_VERSIONS); do \
	  echo "== Lua $$v"; $(MAKE) LUA_VERSION=$$v all spec; \
	done

# The specs under valgrind's memcheck: any error or definite leak fails.
valgrind: deps all
	$(MAKE) --no-print-directory LUA_VERSION=luajit all
	valgrind --quiet --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	  $(LUA) $(BUSTED) --lpath='$(LUA_PATH_BUILD)' --cpath='$(LUA_CPATH_BUILD)' $(BUSTED_ARGS) spec

demo: deps
	$(MAKE) all
	LUA_PATH='$(LUA_PATH_BUILD);;' LUA_CPATH='$(LUA_CPATH_BUILD);;' \
	  $(LUA) spec/support/with-fake.lua \
	  'echo "== examples/whoami.lua (as the admin token)" && $(LUA) examples/whoami.lua && \
	   echo && echo "== examples/revoke_user.lua $$DEMO_USER_ID" && \
	   $(LUA) examples/revoke_user.lua "$$DEMO_USER_ID" "$$DEMO_USER_TOKEN"'

# Benchmarks (never part of make test): medians, with the ideal beside each.
bench-bulk: deps
	$(MAKE) LUA_VERSION=5.4 all
	lua5.4 spec/bench/bulk.lua

# The specs with the core built under AddressSanitizer and UBSan, run by
# a small interpreter built with the sanitizers (spec/support/asan_lua.c),
# so their runtime comes first without LD_PRELOAD; the specs' child Lua
# processes use it too. Leak detection is on; see spec/support/lsan.supp.
ASAN_BUILD := build/asan-$(LUA_VERSION)
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_LUA   := $(ASAN_BUILD)/asan_lua
LUA_LIB    ?= -llua$(LUA_VERSION)
$(ASAN_LUA): spec/support/asan_lua.c
	@mkdir -p $(dir $@)
	$(CC) $(ASAN_FLAGS) -I$(LUA_INCDIR) $< -o $@ $(LUA_LIB) -lm
asan: deps
	$(MAKE) --no-print-directory LUA_VERSION=luajit all
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) CFLAGS='$(ASAN_FLAGS)' LIBFLAG='-shared $(ASAN_FLAGS)' all
	$(MAKE) --no-print-directory $(ASAN_LUA)
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
	LSAN_OPTIONS=use_tls=0:suppressions=$(CURDIR)/spec/support/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	LUA=$(CURDIR)/$(ASAN_LUA) $(ASAN_LUA) $(BUSTED) --lpath='$(LUA_PATH_BUILD)' --cpath='./$(ASAN_BUILD)/?.so' $(BUSTED_ARGS) spec

# 200,000 me() calls in one process: resident memory at the start and end,
# and calls per second (SOAK_CALLS to change the count).
soak: deps all
	$(LUA) spec/bench/soak.lua

install: $(MODULE) $(SIGNALS_MODULE)
	install -d $(DESTDIR)$(LUA_LIBDIR)/genesys/tokens/cli $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens
	install -m 0755 $(MODULE) $(DESTDIR)$(LUA_LIBDIR)/genesys/tokens/core.so
	install -m 0755 $(SIGNALS_MODULE) $(DESTDIR)$(LUA_LIBDIR)/genesys/tokens/cli/signals.so
	install -m 0644 lua/genesys/tokens.lua $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens.lua
	install -m 0644 lua/genesys/tokens/*.lua $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens/
	install -d $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens/transport $(DESTDIR)$(BINDIR)
	install -m 0644 lua/genesys/tokens/transport/*.lua $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens/transport/
	install -d $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens/gate
	install -m 0644 lua/genesys/tokens/gate/*.lua $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens/gate/
	install -d $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens/cli
	install -m 0644 lua/genesys/tokens/cli/*.lua $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens/cli/
	sed '1s|.*|#!/usr/bin/env $(LUA)|' bin/genesys-tokens > $(DESTDIR)$(BINDIR)/genesys-tokens
	chmod 0755 $(DESTDIR)$(BINDIR)/genesys-tokens

uninstall:
	rm -rf $(DESTDIR)$(LUA_LIBDIR)/genesys/tokens $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens
	rm -f $(DESTDIR)$(LUA_SHAREDIR)/genesys/tokens.lua $(DESTDIR)$(BINDIR)/genesys-tokens

print:
	@echo LUA_VERSION=$(LUA_VERSION) LUA=$(LUA) LUA_INCDIR=$(LUA_INCDIR)
	@echo CURL_CFLAGS=$(CURL_CFLAGS) CURL_LIBS=$(CURL_LIBS)
	@echo MODULE=$(MODULE) LUA_LIBDIR=$(LUA_LIBDIR) LUA_SHAREDIR=$(LUA_SHAREDIR)

clean:
	rm -rf build

# libFuzzer harnesses of the C core's pure functions (make fuzz).
-include spec/fuzz/fuzz.mk

# Benchmarks beside their peers (make bench, make bench-plot).
-include spec/bench/bench.mk
