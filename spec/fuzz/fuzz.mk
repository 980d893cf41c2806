# libFuzzer harnesses of the C core's pure functions (gt_buffer.c, gt_url.c,
# gt_headers.c), included by the top-level Makefile; run from the repo root.
#   make fuzz                 every harness for FUZZ_SECONDS (60) each
#   make fuzz-smoke           every harness for FUZZ_SMOKE_SECONDS (10) each, for CI
#   make fuzz FUZZ_ONLY=headers   one harness
# A finding (crash, leak, sanitizer report, failed invariant) fails the
# target; its reproducer is kept in a temporary directory, never in the repo.

FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_CC            ?= clang
FUZZ_ONLY          ?= segment headers buffer base64
FUZZ_BUILD         := build/fuzz
FUZZ_PACKAGES      := clang libclang-rt-14-dev
FUZZ_CFLAGS        := -std=c99 -Wall -Wextra -Werror -pedantic -g -O1 -fno-omit-frame-pointer \
                      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc
FUZZ_PURE          := src/gt_buffer.c src/gt_url.c src/gt_headers.c
# What each harness links (never gt_client.c, gt_transfer.c or lua_core.c).
FUZZ_LINK_segment  := src/gt_url.c src/gt_buffer.c
FUZZ_LINK_base64   := src/gt_url.c src/gt_buffer.c
FUZZ_LINK_buffer   := src/gt_buffer.c
FUZZ_LINK_headers  := src/gt_headers.c
FUZZ_BINS          := $(FUZZ_ONLY:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-deps

fuzz: fuzz-build
	@sh spec/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

fuzz-smoke: fuzz-build
	@sh spec/fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_BINS)

fuzz-build: $(FUZZ_BINS)

# clang and its libFuzzer/sanitizer runtimes, installed only when missing
# (the same check as tools/deps.sh).
fuzz-deps:
	@missing=""; \
	for p in $(FUZZ_PACKAGES); do \
	  case "$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null || true)" in \
	    *"install ok installed"*) ;; \
	    *) missing="$$missing $$p" ;; \
	  esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "fuzz: installing$$missing" >&2; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=""; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "fuzz: missing packages:$$missing; install them as root" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(FUZZ_BUILD)/fuzz_%: spec/fuzz/fuzz_%.c $(FUZZ_PURE) $(wildcard src/gt_*.h) | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_LINK_$*)
