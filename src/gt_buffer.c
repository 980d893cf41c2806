#include "gt_buffer.h"

#include <stdlib.h>
#include <string.h>

/* Blocks above this size are released by gt_buffer_clear. */
#define GT_BUFFER_KEEP (64 * 1024)

void gt_buffer_init(gt_buffer *b, size_t limit) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->limit = limit;
}

int gt_buffer_append(gt_buffer *b, const char *p, size_t n) {
  if (n > b->limit - b->len) /* len <= limit always holds */
    return GT_BUFFER_TOO_LARGE;
  if (b->len + n > b->cap || b->data == NULL) {
    size_t want = b->cap ? b->cap : 1024;
    char *grown;
    while (want < b->len + n)
      want = (want > b->limit / 2) ? b->limit : want * 2;
    if (want < b->len + n)
      want = b->len + n;
    grown = realloc(b->data, want + 1);
    if (grown == NULL)
      return GT_BUFFER_NOMEM;
    b->data = grown;
    b->cap = want;
  }
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return GT_BUFFER_OK;
}

int gt_buffer_puts(gt_buffer *b, const char *s) {
  return gt_buffer_append(b, s, strlen(s));
}

void gt_buffer_clear(gt_buffer *b) {
  if (b->cap > GT_BUFFER_KEEP) {
    free(b->data);
    b->data = NULL;
    b->cap = 0;
  } else if (b->data) {
    b->data[0] = '\0';
  }
  b->len = 0;
}

void gt_buffer_free(gt_buffer *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}
