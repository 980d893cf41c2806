# Benchmarks beside their peers (never part of make test). Included by the
# top-level Makefile; uses its CC, CURL_CFLAGS, CURL_LIBS and deps target.
#
#   make bench                 # every section, ~7 minutes: table on stdout,
#                              # build/bench/results.csv and results.txt
#   make bench BENCH_QUICK=1   # ~4 minutes: bulk without concurrency 1, fewer calls
#   make bench-plot            # build/bench/calls_per_second.png from the CSV
#   make bench-profile         # where a client:me() call's time goes, layer by
#                              # layer (~4 minutes)
#
# It installs what it needs: the project's Debian packages (make deps),
# gnuplot-nox and wrk (and node/npm from Debian if there is no node), and
# the Genesys Cloud JavaScript SDK from npm into a throwaway folder that is
# removed when the run ends. See spec/bench/run.lua for the sections and
# their environment knobs.

BENCH_OUT      ?= build/bench
# The newest release when this was written that installs and runs on node 20.
BENCH_JS_SDK   ?= purecloud-platform-client-v2@262.0.0
BENCH_PACKAGES := gnuplot-nox wrk
BENCH_RAW_CURL := $(BENCH_OUT)/raw_curl
BENCH_SUDO     := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: bench bench-deps bench-plot bench-profile

bench-deps: deps
	@missing=""; \
	for p in $(BENCH_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "bench: installing$$missing" >&2; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(BENCH_SUDO) apt-get update -qq && \
	  $(BENCH_SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The lower bound of section 1: libcurl alone, built with -O2.
$(BENCH_RAW_CURL): spec/bench/raw_curl.c spec/bench/loop_driver.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=c99 -Wall -Wextra -Werror $(CURL_CFLAGS) $< -o $@ $(CURL_LIBS)

# A layer of bench-profile: the C core alone, without Lua.
BENCH_CORE_LOOP := $(BENCH_OUT)/core_loop
BENCH_CORE_SOURCES := src/gt_client.c src/gt_transfer.c src/gt_url.c src/gt_headers.c src/gt_buffer.c
$(BENCH_CORE_LOOP): spec/bench/core_loop.c spec/bench/loop_driver.h $(BENCH_CORE_SOURCES) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=c99 -Wall -Wextra -Werror -Isrc $(CURL_CFLAGS) spec/bench/core_loop.c $(BENCH_CORE_SOURCES) -o $@ $(CURL_LIBS)

bench: bench-deps
	@$(MAKE) --no-print-directory LUA_VERSION=5.4 all
	@$(MAKE) --no-print-directory LUA_VERSION=luajit all
	@$(MAKE) --no-print-directory $(BENCH_RAW_CURL)
	@mkdir -p $(BENCH_OUT)
	@js=$$(mktemp -d "$${TMPDIR:-/tmp}/genesys-bench-js.XXXXXX") || exit 1; \
	trap 'rm -rf "$$js"' EXIT INT TERM; \
	echo "bench: npm install $(BENCH_JS_SDK) into $$js (thrown away after the run)" >&2; \
	if ! (cd "$$js" && npm install --no-audit --no-fund --loglevel=error $(BENCH_JS_SDK) >npm.log 2>&1); then \
	  echo "bench: npm install failed; the JS SDK is left out:" >&2; cat "$$js/npm.log" >&2; \
	fi; \
	BENCH_JS_DIR="$$js" BENCH_OUT='$(BENCH_OUT)' BENCH_RAW_CURL='$(BENCH_RAW_CURL)' lua5.4 spec/bench/run.lua

# Section 1's calls/s per client (one row each) as case, median, min, max.
bench-plot:
	@test -f $(BENCH_OUT)/results.csv || { echo "bench-plot: no $(BENCH_OUT)/results.csv; run make bench first" >&2; exit 1; }
	@command -v gnuplot >/dev/null 2>&1 || $(MAKE) --no-print-directory bench-deps
	@lua5.4 spec/bench/plot_data.lua $(BENCH_OUT)/results.csv $(BENCH_OUT)/calls_per_second.dat > $(BENCH_OUT)/plot_subtitle.txt
	gnuplot -e "datafile='$(BENCH_OUT)/calls_per_second.dat'; outfile='$(BENCH_OUT)/calls_per_second.png'; subtitle=system('cat $(BENCH_OUT)/plot_subtitle.txt')" spec/bench/plot.gp
	@echo "bench-plot: $(BENCH_OUT)/calls_per_second.png"

# spec/bench/profile_me.lua: us/call per layer (Lua 5.4 and LuaJIT), then
# instructions per call under callgrind and the top functions of me().
bench-profile: bench-deps
	@$(MAKE) --no-print-directory LUA_VERSION=5.4 all
	@$(MAKE) --no-print-directory LUA_VERSION=luajit all
	@$(MAKE) --no-print-directory $(BENCH_RAW_CURL) $(BENCH_CORE_LOOP)
	BENCH_RAW_CURL='$(BENCH_RAW_CURL)' BENCH_CORE_LOOP='$(BENCH_CORE_LOOP)' lua5.4 spec/bench/profile_me.lua
	BENCH_RAW_CURL='$(BENCH_RAW_CURL)' BENCH_CORE_LOOP='$(BENCH_CORE_LOOP)' BENCH_PROFILE_LUA=luajit lua5.4 spec/bench/profile_me.lua
	BENCH_RAW_CURL='$(BENCH_RAW_CURL)' BENCH_CORE_LOOP='$(BENCH_CORE_LOOP)' lua5.4 spec/bench/profile_me.lua callgrind
