/* libFuzzer harness: gt_user_id_problem + gt_append_segment on arbitrary
 * bytes (the user id the caller passes to revoke/...). A failed invariant
 * calls __builtin_trap(), which libFuzzer reports as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gt_buffer.h"
#include "gt_url.h"

#define CHECK(cond) \
  do {              \
    if (!(cond))    \
      __builtin_trap(); \
  } while (0)

static const char PREFIX[] = "https://api.example.com/api/v2/tokens/";

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

static int upper_hex(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

static int hex_value(unsigned char c) { return c <= '9' ? c - '0' : c - 'A' + 10; }

/* ASCII case-insensitive equality of the decoded segment with `word`. */
static int is_word(const unsigned char *s, size_t len, const char *word) {
  size_t i;
  if (len != strlen(word))
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c + 32);
    if (c != (unsigned char)word[i])
      return 0;
  }
  return 1;
}

/* Independent model of what gt_user_id_problem accepts. */
static int model_accepts(const unsigned char *s, size_t len) {
  size_t i;
  if (len == 0 || len > GT_USER_ID_MAX)
    return 0;
  for (i = 0; i < len; i++)
    if (s[i] < 0x20 || s[i] == 0x7f)
      return 0;
  return !is_word(s, len, "me") && !is_word(s, len, "timeout") && !is_word(s, len, ".") &&
         !is_word(s, len, "..");
}

static size_t encoded_len(const unsigned char *s, size_t len) {
  size_t i, n = 0;
  for (i = 0; i < len; i++)
    n += unreserved(s[i]) ? 1 : 3;
  return n;
}

/* A buffer holding PREFIX, with the given limit. */
static void prefilled(gt_buffer *b, size_t limit) {
  gt_buffer_init(b, limit);
  CHECK(gt_buffer_puts(b, PREFIX) == GT_BUFFER_OK);
}

/* The buffer is exactly PREFIX, as before the refused append. */
static void check_untouched(const gt_buffer *b) {
  CHECK(b->len == sizeof PREFIX - 1);
  CHECK(b->data != NULL);
  CHECK(memcmp(b->data, PREFIX, b->len) == 0);
  CHECK(b->data[b->len] == '\0');
}

/* The validator and the model on the input repeated to `len` bytes: the
 * length limit is reached whatever the input's size. */
static void check_problem_at(const uint8_t *data, size_t size, size_t len) {
  static uint8_t s[GT_USER_ID_MAX + 1];
  size_t i;
  CHECK(len <= sizeof s);
  for (i = 0; i < len; i++)
    s[i] = data[i % size];
  CHECK((gt_user_id_problem((const char *)s, len) == NULL) == model_accepts(s, len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *id = (const char *)data;
  const char *problem = gt_user_id_problem(id, size);
  size_t want = encoded_len(data, size), i, n;
  unsigned char *decoded;
  gt_buffer b;
  const unsigned char *out;

  /* The validator agrees with the model, both ways. */
  CHECK((problem == NULL) == model_accepts(data, size));
  if (problem)
    CHECK(problem[0] != '\0');
  if (size > 0) {
    check_problem_at(data, size, GT_USER_ID_MAX);
    check_problem_at(data, size, GT_USER_ID_MAX + 1);
  }

  /* Encode after a prefix, as gt_client.c does. */
  prefilled(&b, (size_t)-1);
  CHECK(gt_append_segment(&b, id, size) == GT_BUFFER_OK);
  CHECK(b.len == sizeof PREFIX - 1 + want);
  CHECK(memcmp(b.data, PREFIX, sizeof PREFIX - 1) == 0);
  CHECK(b.data[b.len] == '\0');
  out = (const unsigned char *)b.data + sizeof PREFIX - 1;

  /* Only unreserved bytes or %XX with uppercase hex; never / ? #; decodes
   * back to the input exactly. %XX is only used for a byte that needed it. */
  decoded = malloc(size + 1);
  CHECK(decoded != NULL);
  for (i = 0, n = 0; i < want;) {
    unsigned char c = out[i];
    CHECK(c != '/' && c != '?' && c != '#');
    if (c == '%') {
      unsigned char v;
      CHECK(i + 2 < want && upper_hex(out[i + 1]) && upper_hex(out[i + 2]));
      v = (unsigned char)(hex_value(out[i + 1]) * 16 + hex_value(out[i + 2]));
      CHECK(!unreserved(v));
      CHECK(n < size);
      decoded[n++] = v;
      i += 3;
    } else {
      CHECK(unreserved(c));
      CHECK(n < size);
      decoded[n++] = c;
      i++;
    }
  }
  CHECK(n == size);
  CHECK(size == 0 || memcmp(decoded, data, size) == 0);
  if (problem == NULL) {
    CHECK(!is_word(decoded, n, "me") && !is_word(decoded, n, "timeout"));
    CHECK(!is_word(decoded, n, ".") && !is_word(decoded, n, ".."));
  }
  free(decoded);
  gt_buffer_free(&b);

  /* Exactly enough room: accepted. */
  prefilled(&b, sizeof PREFIX - 1 + want);
  CHECK(gt_append_segment(&b, id, size) == GT_BUFFER_OK);
  CHECK(b.len == b.limit);
  gt_buffer_free(&b);

  /* Too little room (one byte short, and somewhere in between): refused,
   * and the buffer is left as it was. */
  if (want > 0) {
    size_t shorts[2];
    int k;
    shorts[0] = want - 1;
    shorts[1] = (size * 7 + (size ? data[0] : 0)) % want;
    for (k = 0; k < 2; k++) {
      prefilled(&b, sizeof PREFIX - 1 + shorts[k]);
      CHECK(gt_append_segment(&b, id, size) == GT_BUFFER_TOO_LARGE);
      check_untouched(&b);
      /* ... and still usable afterwards. */
      CHECK(gt_buffer_append(&b, "x", 1) == (shorts[k] ? GT_BUFFER_OK : GT_BUFFER_TOO_LARGE));
      gt_buffer_free(&b);
    }
  }
  return 0;
}
