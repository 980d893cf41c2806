#include "gt_headers.h"

#include <stdint.h>
#include <string.h>

/* Large enough for any real count or delay, far from overflow. */
#define GT_COUNT_CAP 1000000000000LL

void gt_meta_clear(gt_meta *m) {
  m->content_length = -1;
  m->retry_after = -1;
  m->ratelimit_count = -1;
  m->ratelimit_allowed = -1;
  m->ratelimit_reset = -1;
  m->correlation_id[0] = '\0';
  m->retry_after_raw[0] = '\0';
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

long long gt_parse_count(const char *s, size_t len) {
  size_t i = 0;
  long long v = 0;
  int digits = 0;
  while (i < len && is_blank(s[i]))
    i++;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    digits = 1;
    if (v < GT_COUNT_CAP)
      v = v * 10 + (s[i] - '0');
  }
  while (i < len && is_blank(s[i]))
    i++;
  if (!digits || i != len)
    return -1;
  return v > GT_COUNT_CAP ? GT_COUNT_CAP : v;
}

/* Header names are compared 8 bytes at a time: `want` is lowercase
 * letters, digits and '-', `len` bytes long (at least 8); a letter of
 * `name` matches in either case, anything else exactly. */
static uint64_t word_at(const char *p) {
  uint64_t w;
  memcpy(&w, p, sizeof w);
  return w;
}

static int name_is(const char *name, size_t len, const char *want) {
  size_t i = 0;
  for (;;) {
    uint64_t w;
    if (i + 8 > len)
      i = len - 8; /* the last word overlaps the one before */
    w = word_at(want + i);
    /* 0x20 in each byte of w that is a letter (the only bytes with 0x40). */
    if ((word_at(name + i) | ((w & 0x4040404040404040ULL) >> 1)) != w)
      return 0;
    if (i + 8 == len)
      return 1;
    i += 8;
  }
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* True when every byte of the word is visible ASCII (0x21 to 0x7e). */
static int all_visible(uint64_t w) {
  uint64_t below = (w - ONES * 0x21) & ~w;              /* flags a byte under 0x21 */
  uint64_t above = ((w & ~HIGHS) + ONES) | w;           /* flags 0x7f and over */
  return ((below | above) & HIGHS) == 0;
}

/* Copies a header value into a fixed field, keeping visible ASCII only so
 * that nothing a server sends can forge a line in a log or an error. */
static void copy_visible(char *dst, size_t size, const char *v, size_t len) {
  size_t i, n = 0;
  if (len >= 8 && len < size) { /* the usual value: an id, all visible */
    for (i = 0; i + 8 <= len && all_visible(word_at(v + i)); i += 8) {
    }
    if (i + 8 > len && all_visible(word_at(v + len - 8))) {
      memcpy(dst, v, len);
      dst[len] = '\0';
      return;
    }
  }
  for (i = 0; i < len && n + 1 < size; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c > 0x20 && c < 0x7f)
      dst[n++] = (char)c;
    else if (c == ' ' && n > 0)
      dst[n++] = ' ';
  }
  while (n > 0 && dst[n - 1] == ' ')
    n--;
  dst[n] = '\0';
}

/* The fields we keep, by header name. */
enum field { NONE, CORRELATION_ID, RETRY_AFTER, CONTENT_LENGTH, RL_COUNT, RL_ALLOWED, RL_RESET };

/* Which field a header name is. Every response carries headers we do not
 * keep (Date, Server, Content-Type, Connection...): the length and one
 * letter pick the only candidate, so each line is compared once at most. */
static enum field field_of(const char *name, size_t len) {
  switch (len) {
  case sizeof "retry-after" - 1:
    return name_is(name, len, "retry-after") ? RETRY_AFTER : NONE;
  case sizeof "content-length" - 1:
    return name_is(name, len, "content-length") ? CONTENT_LENGTH : NONE;
  case sizeof "inin-correlation-id" - 1:
    return name_is(name, len, "inin-correlation-id") ? CORRELATION_ID : NONE;
  case sizeof "inin-ratelimit-count" - 1: /* and inin-ratelimit-reset */
    if (name[15] == 'c' || name[15] == 'C')
      return name_is(name, len, "inin-ratelimit-count") ? RL_COUNT : NONE;
    return name_is(name, len, "inin-ratelimit-reset") ? RL_RESET : NONE;
  case sizeof "inin-ratelimit-allowed" - 1:
    return name_is(name, len, "inin-ratelimit-allowed") ? RL_ALLOWED : NONE;
  default:
    return NONE;
  }
}

void gt_meta_feed(gt_meta *m, const char *line, size_t len) {
  const char *colon, *value;
  size_t value_len;
  enum field field;

  if (len == 0)
    return;
  switch (line[0]) { /* most lines are none of ours: they end here */
  case 'H': case 'c': case 'C': case 'i': case 'I': case 'r': case 'R':
    break;
  default:
    return;
  }
  while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
    len--;
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    gt_meta_clear(m);
    return;
  }
  colon = memchr(line, ':', len);
  if (colon == NULL)
    return;
  field = field_of(line, (size_t)(colon - line));
  if (field == NONE)
    return;
  value = colon + 1;
  value_len = len - (size_t)(colon - line) - 1;
  while (value_len > 0 && is_blank(*value)) {
    value++;
    value_len--;
  }
  while (value_len > 0 && is_blank(value[value_len - 1]))
    value_len--;

  switch (field) {
  case CORRELATION_ID:
    copy_visible(m->correlation_id, sizeof m->correlation_id, value, value_len);
    break;
  case RETRY_AFTER:
    copy_visible(m->retry_after_raw, sizeof m->retry_after_raw, value, value_len);
    m->retry_after = gt_parse_count(value, value_len);
    break;
  case CONTENT_LENGTH:
    m->content_length = gt_parse_count(value, value_len);
    break;
  case RL_COUNT:
    m->ratelimit_count = gt_parse_count(value, value_len);
    break;
  case RL_ALLOWED:
    m->ratelimit_allowed = gt_parse_count(value, value_len);
    break;
  case RL_RESET:
    m->ratelimit_reset = gt_parse_count(value, value_len);
    break;
  case NONE:
    break;
  }
}
