/* The lower bound of the sequential benchmark: libcurl alone, the same
 * request genesys.tokens' me() makes, on one reused easy handle (so one
 * keep-alive connection), the body appended to a growing buffer, nothing
 * decoded.
 *
 *   build/bench/raw_curl URL CALLS|serve [WARMUP]
 *
 * The command line and output are loop_driver.h's. Exits 1 on any failed
 * call or non-200 status. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>

#include "loop_driver.h"

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

typedef struct {
  CURL *easy;
  buffer body;
} raw;

static int calls(void *ud, long n) {
  raw *r = ud;
  long i;
  for (i = 1; i <= n; i++)
    if (one_call(r->easy, &r->body, i) != 0)
      return -1;
  return 0;
}

int main(int argc, char **argv) {
  struct curl_slist *headers = NULL;
  raw r = {NULL, {NULL, 0, 0}};
  loop_args a;
  int rc = loop_parse("raw_curl", argc, argv, &a);

  if (rc != 0)
    return rc;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return 1;
  r.easy = curl_easy_init();
  if (r.easy == NULL)
    return 1;
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Authorization: Bearer bench-access-token-0123456789abcdef");
  if (headers == NULL)
    return 1;
  curl_easy_setopt(r.easy, CURLOPT_URL, a.url);
  curl_easy_setopt(r.easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(r.easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(r.easy, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(r.easy, CURLOPT_NOSIGNAL, 1L);
  /* The same length of User-Agent as genesys.tokens sends, so both put the
   * same bytes on the wire. */
  curl_easy_setopt(r.easy, CURLOPT_USERAGENT, "genesys-tokens/raw libcurl/raw");

  rc = loop_run(&a, calls, &r);
  curl_slist_free_all(headers);
  curl_easy_cleanup(r.easy);
  curl_global_cleanup();
  free(r.body.data);
  return rc;
}
