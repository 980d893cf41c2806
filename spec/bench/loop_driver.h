/* What the C loops of the benchmarks (raw_curl.c, core_loop.c) share: the
 * command line and the output, around a function that makes N calls.
 *
 *   PROGRAM URL CALLS|serve [WARMUP]
 *
 * Prints "RESULT calls=<n> seconds=<s> rate=<calls per second>" (the
 * warm-up is not timed). With `serve` it takes turns with its peers
 * (spec/bench/lockstep.lua): after the warm-up it prints "READY rate=<r>",
 * then for each line "N" on stdin makes N calls and prints "DONE <seconds>",
 * until stdin ends. */
#ifndef LOOP_DRIVER_H
#define LOOP_DRIVER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Makes `calls` calls; 0, or -1 after a failed one (said on stderr). */
typedef int (*loop_calls)(void *ud, long calls);

typedef struct loop_args {
  const char *url;
  long calls, warmup;
  int serve;
} loop_args;

static double loop_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads the command line into a; 0, or 2 (said on stderr) when it is wrong. */
static int loop_parse(const char *name, int argc, char **argv, loop_args *a) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s URL CALLS|serve [WARMUP]\n", name);
    return 2;
  }
  a->url = argv[1];
  a->serve = strcmp(argv[2], "serve") == 0;
  a->calls = a->serve ? 1 : strtol(argv[2], NULL, 10);
  a->warmup = argc > 3 ? strtol(argv[3], NULL, 10) : 1000;
  if (a->calls < 1 || a->calls > 10000000 || a->warmup < 0 || a->warmup > 10000000) {
    fprintf(stderr, "%s: CALLS 1..10000000, WARMUP 0..10000000\n", name);
    return 2;
  }
  return 0;
}

/* The warm-up, then the timed calls or the turns; the exit code. */
static int loop_run(const loop_args *a, loop_calls calls, void *ud) {
  char line[64];
  double t0 = loop_now(), warm, elapsed;
  if (calls(ud, a->warmup) != 0)
    return 1;
  warm = loop_now() - t0;
  if (!a->serve) {
    t0 = loop_now();
    if (calls(ud, a->calls) != 0)
      return 1;
    elapsed = loop_now() - t0;
    printf("RESULT calls=%ld seconds=%.6f rate=%.1f\n", a->calls, elapsed, (double)a->calls / elapsed);
    return 0;
  }
  printf("READY rate=%.1f\n", a->warmup > 0 && warm > 0 ? (double)a->warmup / warm : 0.0);
  fflush(stdout);
  while (fgets(line, sizeof line, stdin) != NULL) {
    long n = strtol(line, NULL, 10);
    if (n < 1 || n > 10000000) {
      fprintf(stderr, "a turn is 1..10000000 calls\n");
      return 2;
    }
    t0 = loop_now();
    if (calls(ud, n) != 0)
      return 1;
    printf("DONE %.6f\n", loop_now() - t0);
    fflush(stdout);
  }
  return 0;
}

#endif
