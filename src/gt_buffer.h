/* A growable byte buffer with a hard size limit: the response body lands
 * here, and a body larger than the limit is refused as it arrives. */
#ifndef GT_BUFFER_H
#define GT_BUFFER_H

#include <stddef.h>

typedef struct gt_buffer {
  char *data;   /* always NUL-terminated when non-NULL */
  size_t len;
  size_t cap;   /* bytes allocated for data, excluding the terminator */
  size_t limit; /* the most bytes the buffer may hold */
} gt_buffer;

enum { GT_BUFFER_OK = 0, GT_BUFFER_TOO_LARGE = 1, GT_BUFFER_NOMEM = 2 };

void gt_buffer_init(gt_buffer *b, size_t limit);
/* Appends n bytes; refuses (and leaves the buffer as it was) when the
 * result would exceed the limit or memory runs out. */
int gt_buffer_append(gt_buffer *b, const char *p, size_t n);
/* Appends a NUL-terminated string. */
int gt_buffer_puts(gt_buffer *b, const char *s);
/* Empties the buffer for the next response; gives back a large block so
 * that one big body does not pin memory for the client's lifetime. */
void gt_buffer_clear(gt_buffer *b);
void gt_buffer_free(gt_buffer *b);

#endif
