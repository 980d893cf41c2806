/* The response headers that matter to a Tokens client, parsed one line at a
 * time as libcurl hands them over. Pure functions, no libcurl. */
#ifndef GT_HEADERS_H
#define GT_HEADERS_H

#include <stddef.h>

#define GT_CORRELATION_MAX 128
#define GT_RETRY_AFTER_MAX 64
/* The most bytes of header lines a response may have, interim responses
 * included (nginx proxies 4 or 8 KiB; a real answer has about 1 KiB). */
#define GT_HEADER_BLOCK_MAX (64 * 1024)

typedef struct gt_meta {
  long long content_length;    /* -1 when absent */
  long long retry_after;       /* seconds; -1 when absent or not delta-seconds */
  long long ratelimit_count;   /* inin-ratelimit-*; -1 when absent */
  long long ratelimit_allowed;
  long long ratelimit_reset;
  char correlation_id[GT_CORRELATION_MAX];    /* "" when absent or too long */
  char retry_after_raw[GT_RETRY_AFTER_MAX];   /* as sent, e.g. an HTTP-date */
} gt_meta;

void gt_meta_clear(gt_meta *m);

/* The header a line is, of those gt_meta keeps. */
typedef enum gt_field {
  GT_FIELD_NONE = 0,
  GT_FIELD_STATUS_LINE,
  GT_FIELD_CORRELATION_ID,
  GT_FIELD_RETRY_AFTER,
  GT_FIELD_CONTENT_LENGTH,
  GT_FIELD_RATELIMIT_COUNT,
  GT_FIELD_RATELIMIT_ALLOWED,
  GT_FIELD_RATELIMIT_RESET
} gt_field;

/* Feeds one raw header line (with or without CRLF) and says which it was.
 * A status line ("HTTP/...") starts a new response (after a 1xx or a
 * proxy's CONNECT reply) and clears what was seen so far. */
gt_field gt_meta_feed(gt_meta *m, const char *line, size_t len);

/* A non-negative decimal integer with optional surrounding blanks, capped
 * so that it cannot overflow; -1 when `s` is not one. */
long long gt_parse_count(const char *s, size_t len);

#endif
