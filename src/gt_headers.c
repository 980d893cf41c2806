#include "gt_headers.h"

#include <string.h>

#include "gt_ascii.h"

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

/* Copies a header value into a fixed field, keeping visible ASCII so that
 * nothing a server sends can forge a line in a log or an error: any other
 * byte becomes a space (one for a run, none at the ends), so that what it
 * separated stays apart for the scrubbing of secrets. A value that does
 * not fit is dropped, not cut: a cut echo of a credential would be a piece
 * of it that no scrubbing finds. */
static void copy_visible(char *dst, size_t size, const char *v, size_t len) {
  size_t i, n = 0, kept = 0; /* kept: n without the trailing spaces */
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c > 0x20 && c < 0x7f) {
      if (n + 1 >= size) {
        dst[0] = '\0';
        return;
      }
      dst[n++] = (char)c;
      kept = n;
    } else if (n > 0 && dst[n - 1] != ' ' && n + 1 < size) {
      dst[n++] = ' ';
    }
  }
  dst[kept] = '\0';
}

gt_field gt_meta_feed(gt_meta *m, const char *line, size_t len) {
  const char *colon, *value;
  size_t name_len, value_len;

  while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
    len--;
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    gt_meta_clear(m); /* a new response: an interim one's headers do not count */
    return GT_FIELD_STATUS_LINE;
  }
  colon = memchr(line, ':', len);
  if (colon == NULL)
    return GT_FIELD_NONE;
  name_len = (size_t)(colon - line);
  value = colon + 1;
  value_len = len - name_len - 1;
  while (value_len > 0 && is_blank(*value)) {
    value++;
    value_len--;
  }
  while (value_len > 0 && is_blank(value[value_len - 1]))
    value_len--;

  if (gt_ascii_is(line, name_len, "inin-correlation-id")) {
    copy_visible(m->correlation_id, sizeof m->correlation_id, value, value_len);
    return GT_FIELD_CORRELATION_ID;
  }
  if (gt_ascii_is(line, name_len, "retry-after")) {
    copy_visible(m->retry_after_raw, sizeof m->retry_after_raw, value, value_len);
    m->retry_after = gt_parse_count(value, value_len);
    return GT_FIELD_RETRY_AFTER;
  }
  if (gt_ascii_is(line, name_len, "content-length")) {
    m->content_length = gt_parse_count(value, value_len);
    return GT_FIELD_CONTENT_LENGTH;
  }
  if (gt_ascii_is(line, name_len, "inin-ratelimit-count")) {
    m->ratelimit_count = gt_parse_count(value, value_len);
    return GT_FIELD_RATELIMIT_COUNT;
  }
  if (gt_ascii_is(line, name_len, "inin-ratelimit-allowed")) {
    m->ratelimit_allowed = gt_parse_count(value, value_len);
    return GT_FIELD_RATELIMIT_ALLOWED;
  }
  if (gt_ascii_is(line, name_len, "inin-ratelimit-reset")) {
    m->ratelimit_reset = gt_parse_count(value, value_len);
    return GT_FIELD_RATELIMIT_RESET;
  }
  return GT_FIELD_NONE;
}
