/* libFuzzer harness: gt_buffer under a sequence of appends, puts, clears
 * and frees driven by the input, against a limit taken from the input; the
 * contents are compared with a plain reference model after every step. A
 * failed invariant calls __builtin_trap(). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gt_buffer.h"

#define CHECK(cond) \
  do {              \
    if (!(cond))    \
      __builtin_trap(); \
  } while (0)

#define KEEP (64 * 1024)       /* GT_BUFFER_KEEP in gt_buffer.c */
#define MODEL_MAX (512 * 1024) /* the model (and memory use) stays below this */

typedef struct {
  const uint8_t *p;
  size_t left;
} input;

static unsigned take(input *in, unsigned bytes) {
  unsigned v = 0;
  while (bytes-- > 0) {
    v <<= 8;
    if (in->left > 0) {
      v |= *in->p++;
      in->left--;
    }
  }
  return v;
}

static size_t pick_limit(input *in) {
  unsigned kind = take(in, 1), v = take(in, 3);
  switch (kind % 6) {
  case 0: return v % 17;             /* tiny: below the first block */
  case 1: return v % 1100;           /* around the first 1024-byte block */
  case 2: return v % 70000;          /* around GT_BUFFER_KEEP */
  case 3: return 1024 + v % 300000;  /* several doublings */
  case 4: return (size_t)-1 - v % 3; /* unlimited, as for URLs and headers */
  default: return v;
  }
}

/* Compares the whole contents when the block may have moved (or is small),
 * else from `from` on: a long run of appends stays linear. */
static void check_from(const gt_buffer *b, const char *model, size_t model_len, size_t from) {
  CHECK(b->len == model_len);
  CHECK(b->len <= b->limit);
  if (b->data == NULL) {
    CHECK(b->len == 0);
    return;
  }
  CHECK(b->cap >= b->len);
  CHECK(b->data[b->len] == '\0');
  if (model_len <= 4096)
    from = 0;
  CHECK(from >= model_len || memcmp(b->data + from, model + from, model_len - from) == 0);
}

static void check(const gt_buffer *b, const char *model, size_t model_len) {
  check_from(b, model, model_len, 0);
}

static char model[MODEL_MAX], chunk[MODEL_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input in = {data, size};
  gt_buffer b;
  char *old_data;
  size_t old_cap, old_len;
  size_t limit = pick_limit(&in), model_len = 0;

  gt_buffer_init(&b, limit);
  CHECK(b.limit == limit);
  check(&b, model, 0);
  while (in.left > 0) {
    unsigned op = take(&in, 1);
    size_t n = 0;
    int rc = -1, expect;
    switch (op % 8) {
    case 0: /* append bytes straight from the input */
    case 1:
      n = take(&in, 1);
      if (n > in.left)
        n = in.left;
      memcpy(chunk, in.p, n);
      in.p += n;
      in.left -= n;
      break;
    case 2: { /* a large run of one byte: crosses the limit and KEEP */
      unsigned c = take(&in, 1);
      n = take(&in, 2) * 2; /* up to 128 KiB */
      if (model_len + n < MODEL_MAX)
        memset(chunk, (int)c, n);
      break;
    }
    case 3: { /* puts: up to the first NUL of the next bytes */
      size_t max = take(&in, 1), k;
      if (max > in.left)
        max = in.left;
      for (k = 0; k < max && in.p[k] != 0; k++)
        chunk[k] = (char)in.p[k];
      chunk[k] = '\0';
      n = k;
      in.p += max;
      in.left -= max;
      break;
    }
    case 4: /* zero bytes from a NULL pointer */
      n = 0;
      break;
    case 5:
      gt_buffer_clear(&b);
      model_len = 0;
      CHECK(b.cap <= KEEP);
      CHECK(b.data == NULL || b.data[0] == '\0');
      check(&b, model, 0);
      continue;
    case 6:
      gt_buffer_free(&b);
      model_len = 0;
      CHECK(b.data == NULL && b.cap == 0 && b.limit == limit);
      check(&b, model, 0);
      continue;
    default: { /* one byte, the most common call (gt_append_segment) */
      chunk[0] = (char)take(&in, 1);
      n = 1;
      break;
    }
    }
    if (model_len + n >= MODEL_MAX)
      continue;
    expect = model_len + n <= limit ? GT_BUFFER_OK : GT_BUFFER_TOO_LARGE;
    old_data = b.data;
    old_cap = b.cap;
    old_len = model_len;
    if (op % 8 == 3)
      rc = gt_buffer_puts(&b, chunk);
    else if (op % 8 == 4)
      rc = gt_buffer_append(&b, NULL, 0);
    else
      rc = gt_buffer_append(&b, chunk, n);
    CHECK(rc == expect);
    if (rc == GT_BUFFER_OK) {
      memcpy(model + model_len, chunk, n);
      model_len += n;
    }
    if (b.data != old_data || b.cap != old_cap)
      check(&b, model, model_len);
    else /* the block stayed: the new bytes and a little before them */
      check_from(&b, model, model_len, old_len > 64 ? old_len - 64 : 0);
  }
  check(&b, model, model_len);
  gt_buffer_free(&b);
  return 0;
}
