/* A layer of make bench-profile: the C core of genesys.tokens alone, no Lua
 * (src/gt_client.c and what it links), GET /api/v2/tokens/me on one client
 * with the library's default timeouts, the body left in the client's
 * buffer. Between raw libcurl (raw_curl.c) and the Lua layers, it shows
 * what the core adds before Lua is involved.
 *
 *   build/bench/core_loop BASE_URL CALLS|serve [WARMUP]
 *
 * Output and `serve` as raw_curl.c. Exits 1 on any failed call or non-200. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gt_client.h"

static const char TOKEN[] = "bench-access-token-0123456789abcdef";

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The seconds n calls took, or -1 after a failed one. */
static double loop(gt_client *c, long n) {
  gt_result res;
  double t0 = now();
  long i;
  for (i = 1; i <= n; i++) {
    gt_get_token_info(c, TOKEN, sizeof TOKEN - 1, 0, &res);
    if (res.outcome != GT_DONE || res.status != 200) {
      fprintf(stderr, "core_loop: call %ld: %s %ld %s\n", i, gt_outcome_kind(res.outcome), res.status,
              res.outcome == GT_DONE ? "" : res.message);
      return -1;
    }
  }
  return now() - t0;
}

int main(int argc, char **argv) {
  gt_options o;
  gt_client *c;
  char err[128], line[64];
  long calls, warmup;
  double warm, elapsed;
  int serve;

  if (argc < 3) {
    fprintf(stderr, "usage: core_loop BASE_URL CALLS|serve [WARMUP]\n");
    return 2;
  }
  serve = strcmp(argv[2], "serve") == 0;
  calls = serve ? 1 : strtol(argv[2], NULL, 10);
  warmup = argc > 3 ? strtol(argv[3], NULL, 10) : 1000;
  if (calls < 1 || calls > 10000000 || warmup < 0 || warmup > 10000000) {
    fprintf(stderr, "core_loop: CALLS 1..10000000, WARMUP 0..10000000\n");
    return 2;
  }
  memset(&o, 0, sizeof o);
  o.base_url = argv[1];
  o.timeout_ms = 16000; /* the Lua layer's defaults */
  o.connect_timeout_ms = 5000;
  o.max_body = 1024 * 1024;
  o.no_proxy = "*"; /* as the Lua layer passes when the environment has no proxy */
  if (gt_global_init() != 0 || (c = gt_client_new(&o, err, sizeof err)) == NULL)
    return 1;
  if ((warm = loop(c, warmup)) < 0)
    return 1;
  if (serve) {
    printf("READY rate=%.1f\n", warmup > 0 && warm > 0 ? (double)warmup / warm : 0.0);
    fflush(stdout);
    while (fgets(line, sizeof line, stdin) != NULL) {
      calls = strtol(line, NULL, 10);
      if (calls < 1 || calls > 10000000 || (elapsed = loop(c, calls)) < 0)
        return 1;
      printf("DONE %.6f\n", elapsed);
      fflush(stdout);
    }
  } else {
    if ((elapsed = loop(c, calls)) < 0)
      return 1;
    printf("RESULT calls=%ld seconds=%.6f rate=%.1f\n", calls, elapsed, (double)calls / elapsed);
  }
  gt_client_free(c);
  return 0;
}
