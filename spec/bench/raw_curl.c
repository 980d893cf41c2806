/* The lower bound of the sequential benchmark: libcurl alone, the same
 * request genesys.tokens' me() makes, on one reused easy handle (so one
 * keep-alive connection), the body appended to a growing buffer, nothing
 * decoded.
 *
 *   build/bench/raw_curl URL CALLS [WARMUP]
 *   build/bench/raw_curl URL serve [WARMUP]
 *
 * Prints "RESULT calls=<n> seconds=<s> rate=<calls per second>" (the
 * warm-up is not timed). With `serve` it takes turns with its peers
 * (spec/bench/lockstep.lua): after the warm-up it prints "READY rate=<r>",
 * then for each line "N" on stdin makes N calls and prints "DONE <seconds>",
 * until stdin ends. Exits 1 on any failed call or non-200 status. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

typedef struct {
  char *data;
  size_t len, cap;
} buffer;

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  buffer *b = ud;
  size_t len = size * n;
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    char *p;
    while (cap < b->len + len + 1)
      cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL)
      return 0;
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return len;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int one_call(CURL *easy, buffer *body, long i) {
  long status = 0;
  CURLcode rc;
  body->len = 0;
  rc = curl_easy_perform(easy);
  if (rc != CURLE_OK) {
    fprintf(stderr, "raw_curl: call %ld: %s\n", i, curl_easy_strerror(rc));
    return -1;
  }
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200 || body->len == 0) {
    fprintf(stderr, "raw_curl: call %ld: status %ld, %lu bytes\n", i, status, (unsigned long)body->len);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  CURL *easy;
  struct curl_slist *headers = NULL;
  buffer body = {NULL, 0, 0};
  long calls, warmup, i;
  int serve;
  double t0, elapsed;

  if (argc < 3) {
    fprintf(stderr, "usage: raw_curl URL CALLS|serve [WARMUP]\n");
    return 2;
  }
  serve = strcmp(argv[2], "serve") == 0;
  calls = serve ? 1 : strtol(argv[2], NULL, 10);
  warmup = argc > 3 ? strtol(argv[3], NULL, 10) : 1000;
  if (calls < 1 || calls > 10000000 || warmup < 0 || warmup > 10000000) {
    fprintf(stderr, "raw_curl: CALLS 1..10000000, WARMUP 0..10000000\n");
    return 2;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return 1;
  easy = curl_easy_init();
  if (easy == NULL)
    return 1;
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Authorization: Bearer bench-access-token-0123456789abcdef");
  if (headers == NULL)
    return 1;
  curl_easy_setopt(easy, CURLOPT_URL, argv[1]);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  /* The same length of User-Agent as genesys.tokens sends, so both put the
   * same bytes on the wire. */
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "genesys-tokens/raw libcurl/raw");

  t0 = now();
  for (i = 1; i <= warmup; i++)
    if (one_call(easy, &body, i) != 0)
      return 1;
  elapsed = now() - t0;
  if (serve) {
    char line[64];
    printf("READY rate=%.1f\n", warmup > 0 && elapsed > 0 ? (double)warmup / elapsed : 0.0);
    fflush(stdout);
    while (fgets(line, sizeof line, stdin) != NULL) {
      calls = strtol(line, NULL, 10);
      if (calls < 1 || calls > 10000000) {
        fprintf(stderr, "raw_curl: a turn is 1..10000000 calls\n");
        return 2;
      }
      t0 = now();
      for (i = 1; i <= calls; i++)
        if (one_call(easy, &body, i) != 0)
          return 1;
      printf("DONE %.6f\n", now() - t0);
      fflush(stdout);
    }
  } else {
    t0 = now();
    for (i = 1; i <= calls; i++)
      if (one_call(easy, &body, i) != 0)
        return 1;
    elapsed = now() - t0;
    printf("RESULT calls=%ld seconds=%.6f rate=%.1f\n", calls, elapsed, (double)calls / elapsed);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(easy);
  curl_global_cleanup();
  free(body.data);
  return 0;
}
