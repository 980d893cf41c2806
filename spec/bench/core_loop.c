/* A layer of make bench-profile: the C core of genesys.tokens alone, no Lua
 * (src/gt_client.c and what it links), GET /api/v2/tokens/me on one client
 * with the library's default timeouts, the body left in the client's
 * buffer. Between raw libcurl (raw_curl.c) and the Lua layers, it shows
 * what the core adds before Lua is involved.
 *
 *   build/bench/core_loop BASE_URL CALLS|serve [WARMUP]
 *
 * The command line and output are loop_driver.h's. Exits 1 on any failed
 * call or non-200 status. */
#define _POSIX_C_SOURCE 200809L
#include "gt_client.h"
#include "loop_driver.h"

static const char TOKEN[] = "bench-access-token-0123456789abcdef";

static int calls(void *ud, long n) {
  gt_client *c = ud;
  gt_result res;
  long i;
  for (i = 1; i <= n; i++) {
    gt_get_token_info(c, TOKEN, sizeof TOKEN - 1, 0, &res);
    if (res.outcome != GT_DONE || res.status != 200) {
      fprintf(stderr, "core_loop: call %ld: %s %ld %s\n", i, gt_outcome_kind(res.outcome), res.status,
              res.outcome == GT_DONE ? "" : res.message);
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  gt_options o;
  gt_client *c;
  char err[128];
  loop_args a;
  int rc = loop_parse("core_loop", argc, argv, &a);

  if (rc != 0)
    return rc;
  memset(&o, 0, sizeof o);
  o.base_url = a.url;
  o.timeout_ms = 16000; /* the Lua layer's defaults */
  o.connect_timeout_ms = 5000;
  o.max_body = 1024 * 1024;
  o.no_proxy = "*"; /* as the Lua layer passes when the environment has no proxy */
  if (gt_global_init() != 0 || (c = gt_client_new(&o, err, sizeof err)) == NULL)
    return 1;
  rc = loop_run(&a, calls, c);
  gt_client_free(c);
  return rc;
}
