/* libFuzzer harness: response header lines into gt_meta_feed, and
 * gt_parse_count on its own. The input is split at '\n' into lines, each fed
 * with its terminator as libcurl hands them over. Every result is compared
 * with an independent model; a failed invariant calls __builtin_trap(). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gt_headers.h"

#define CHECK(cond) \
  do {              \
    if (!(cond))    \
      __builtin_trap(); \
  } while (0)

#define CAP 1000000000000LL

static int blank(unsigned char c) { return c == ' ' || c == '\t'; }

/* Model of gt_parse_count: optional blanks, one or more digits, optional
 * blanks, nothing else; capped at 10^12. */
static long long model_count(const unsigned char *s, size_t len) {
  size_t a = 0, z = len, i;
  long long v = 0;
  while (a < z && blank(s[a]))
    a++;
  while (z > a && blank(s[z - 1]))
    z--;
  if (a == z)
    return -1;
  for (i = a; i < z; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    if (v <= CAP)
      v = v * 10 + (s[i] - '0');
  }
  return v > CAP ? CAP : v;
}

static int lower_equal(const unsigned char *s, size_t len, const char *want) {
  size_t i;
  if (len != strlen(want))
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c + 32);
    if (c != (unsigned char)want[i])
      return 0;
  }
  return 1;
}

/* Model of the stored text: visible ASCII kept, a run of other bytes one
 * space between kept ones; a text that does not fit is dropped whole. */
static void model_text(char *dst, size_t size, const unsigned char *v, size_t len) {
  static char all[1 << 16];
  size_t i, n = 0;
  for (i = 0; i < len && n < sizeof all; i++) {
    if (v[i] > 0x20 && v[i] < 0x7f)
      all[n++] = (char)v[i];
    else if (n > 0 && all[n - 1] != ' ')
      all[n++] = ' ';
  }
  while (n > 0 && all[n - 1] == ' ')
    n--;
  if (n >= size)
    n = 0;
  memcpy(dst, all, n);
  dst[n] = '\0';
}

static void model_clear(gt_meta *m) {
  memset(m, 0, sizeof *m);
  m->content_length = m->retry_after = -1;
  m->ratelimit_count = m->ratelimit_allowed = m->ratelimit_reset = -1;
}

static void model_feed(gt_meta *m, const unsigned char *line, size_t len) {
  size_t colon, a, z;
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
    len--;
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    model_clear(m);
    return;
  }
  for (colon = 0; colon < len && line[colon] != ':'; colon++)
    ;
  if (colon == len)
    return;
  a = colon + 1;
  z = len;
  while (a < z && blank(line[a]))
    a++;
  while (z > a && blank(line[z - 1]))
    z--;
  if (lower_equal(line, colon, "inin-correlation-id")) {
    model_text(m->correlation_id, sizeof m->correlation_id, line + a, z - a);
  } else if (lower_equal(line, colon, "retry-after")) {
    model_text(m->retry_after_raw, sizeof m->retry_after_raw, line + a, z - a);
    m->retry_after = model_count(line + a, z - a);
  } else if (lower_equal(line, colon, "content-length")) {
    m->content_length = model_count(line + a, z - a);
  } else if (lower_equal(line, colon, "inin-ratelimit-count")) {
    m->ratelimit_count = model_count(line + a, z - a);
  } else if (lower_equal(line, colon, "inin-ratelimit-allowed")) {
    m->ratelimit_allowed = model_count(line + a, z - a);
  } else if (lower_equal(line, colon, "inin-ratelimit-reset")) {
    m->ratelimit_reset = model_count(line + a, z - a);
  }
}

static void check_number(long long v) { CHECK(v == -1 || (v >= 0 && v <= CAP)); }

static void check_text(const char *s, size_t size) {
  const char *nul = memchr(s, '\0', size);
  size_t i, n;
  CHECK(nul != NULL);
  n = (size_t)(nul - s);
  for (i = 0; i < n; i++)
    CHECK(s[i] >= 0x20 && s[i] < 0x7f);
  if (n > 0)
    CHECK(s[0] != ' ' && s[n - 1] != ' ');
}

static void check_meta(const gt_meta *m, const gt_meta *model) {
  check_number(m->content_length);
  check_number(m->retry_after);
  check_number(m->ratelimit_count);
  check_number(m->ratelimit_allowed);
  check_number(m->ratelimit_reset);
  check_text(m->correlation_id, sizeof m->correlation_id);
  check_text(m->retry_after_raw, sizeof m->retry_after_raw);
  CHECK(m->content_length == model->content_length);
  CHECK(m->retry_after == model->retry_after);
  CHECK(m->ratelimit_count == model->ratelimit_count);
  CHECK(m->ratelimit_allowed == model->ratelimit_allowed);
  CHECK(m->ratelimit_reset == model->ratelimit_reset);
  CHECK(strcmp(m->correlation_id, model->correlation_id) == 0);
  CHECK(strcmp(m->retry_after_raw, model->retry_after_raw) == 0);
}

static void check_cleared(const gt_meta *m) {
  CHECK(m->content_length == -1 && m->retry_after == -1);
  CHECK(m->ratelimit_count == -1 && m->ratelimit_allowed == -1 && m->ratelimit_reset == -1);
  CHECK(m->correlation_id[0] == '\0' && m->retry_after_raw[0] == '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gt_meta m, model;
  size_t start = 0;
  long long whole = gt_parse_count((const char *)data, size);

  check_number(whole);
  CHECK(whole == model_count(data, size));

  /* Garbage in the fields first: gt_meta_clear must set every one. */
  memset(&m, 0xA5, sizeof m);
  gt_meta_clear(&m);
  check_cleared(&m);
  model_clear(&model);

  while (start < size) {
    const uint8_t *nl = memchr(data + start, '\n', size - start);
    size_t end = nl ? (size_t)(nl - data) + 1 : size, len = end - start, core = len;
    const uint8_t *line = data + start;
    gt_meta_feed(&m, (const char *)line, len);
    model_feed(&model, line, len);
    check_meta(&m, &model);
    while (core > 0 && (line[core - 1] == '\r' || line[core - 1] == '\n'))
      core--;
    if (core >= 5 && memcmp(line, "HTTP/", 5) == 0)
      check_cleared(&m);
    start = end;
  }
  return 0;
}
