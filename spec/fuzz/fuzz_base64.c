/* libFuzzer harness: gt_append_base64 (HTTP Basic credentials) and the
 * validators of what goes into a header: gt_token_problem,
 * gt_client_id_problem, gt_client_secret_problem. A failed invariant calls
 * __builtin_trap(). */
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

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char PREFIX[] = "Basic ";

static int sextet(unsigned char c) {
  const char *at = c ? memchr(ALPHABET, c, 64) : NULL;
  return at ? (int)(at - ALPHABET) : -1;
}

static void check_base64(const uint8_t *data, size_t size) {
  gt_buffer b;
  size_t want = 4 * ((size + 2) / 3), i, n = 0, pad = (3 - size % 3) % 3;
  const unsigned char *out;
  unsigned char *decoded = malloc(size + 3);
  CHECK(decoded != NULL);

  gt_buffer_init(&b, (size_t)-1);
  CHECK(gt_buffer_puts(&b, PREFIX) == GT_BUFFER_OK);
  CHECK(gt_append_base64(&b, (const char *)data, size) == GT_BUFFER_OK);
  CHECK(b.len == sizeof PREFIX - 1 + want);
  CHECK(memcmp(b.data, PREFIX, sizeof PREFIX - 1) == 0);
  CHECK(b.data[b.len] == '\0');
  out = (const unsigned char *)b.data + sizeof PREFIX - 1;

  /* Alphabet, with '=' only as the last `pad` characters; strict decode
   * (unused bits zero) gives back the input. */
  for (i = 0; i < want; i++) {
    if (i >= want - pad)
      CHECK(out[i] == '=');
    else
      CHECK(sextet(out[i]) >= 0);
  }
  for (i = 0; i < want; i += 4) {
    unsigned long v = 0;
    int k, chars = 0;
    for (k = 0; k < 4; k++) {
      int s = out[i + k] == '=' ? 0 : sextet(out[i + k]);
      if (out[i + k] != '=')
        chars++;
      v = (v << 6) | (unsigned long)s;
    }
    decoded[n++] = (unsigned char)(v >> 16);
    if (chars >= 3)
      decoded[n++] = (unsigned char)(v >> 8);
    else
      CHECK((v & 0xFFFF) == 0);
    if (chars == 4)
      decoded[n++] = (unsigned char)v;
    else
      CHECK((v & 0xFF) == 0);
  }
  CHECK(n == size);
  CHECK(size == 0 || memcmp(decoded, data, size) == 0);
  free(decoded);
  gt_buffer_free(&b);

  /* Exactly enough room is enough; less is refused, buffer as it was. */
  gt_buffer_init(&b, sizeof PREFIX - 1 + want);
  CHECK(gt_buffer_puts(&b, PREFIX) == GT_BUFFER_OK);
  CHECK(gt_append_base64(&b, (const char *)data, size) == GT_BUFFER_OK);
  gt_buffer_free(&b);
  if (want > 0) {
    gt_buffer_init(&b, sizeof PREFIX - 1 + (size * 31) % want);
    CHECK(gt_buffer_puts(&b, PREFIX) == GT_BUFFER_OK);
    CHECK(gt_append_base64(&b, (const char *)data, size) == GT_BUFFER_TOO_LARGE);
    CHECK(b.len == sizeof PREFIX - 1 && memcmp(b.data, PREFIX, b.len) == 0);
    CHECK(b.data[b.len] == '\0');
    gt_buffer_free(&b);
  }
}

/* Models: a token is 1..GT_TOKEN_MAX visible ASCII bytes (no space, CR,
 * LF, NUL); a client id or secret is 1..GT_CREDENTIAL_MAX bytes without an
 * ASCII control character, and an id has no ':'. */
static int model_token(const uint8_t *s, size_t len) {
  size_t i;
  if (len == 0 || len > GT_TOKEN_MAX)
    return 0;
  for (i = 0; i < len; i++)
    if (s[i] < 0x21 || s[i] > 0x7e)
      return 0;
  return 1;
}

static int model_secret(const uint8_t *s, size_t len) {
  size_t i;
  if (len == 0 || len > GT_CREDENTIAL_MAX)
    return 0;
  for (i = 0; i < len; i++)
    if (s[i] < 0x20 || s[i] == 0x7f)
      return 0;
  return 1;
}

static int model_client_id(const uint8_t *s, size_t len) {
  return model_secret(s, len) && memchr(s, ':', len) == NULL;
}

static void check_validators(const uint8_t *s, size_t len) {
  const char *t = gt_token_problem((const char *)s, len);
  const char *i = gt_client_id_problem((const char *)s, len);
  const char *x = gt_client_secret_problem((const char *)s, len);
  CHECK((t == NULL) == model_token(s, len));
  CHECK((i == NULL) == model_client_id(s, len));
  CHECK((x == NULL) == model_secret(s, len));
  CHECK(t == NULL || t[0] != '\0');
  CHECK(i == NULL || i[0] != '\0');
  CHECK(x == NULL || x[0] != '\0');
  if (t == NULL)
    CHECK(memchr(s, '\r', len) == NULL && memchr(s, '\n', len) == NULL &&
          memchr(s, '\0', len) == NULL && memchr(s, ' ', len) == NULL);
}

/* The input repeated to `len` bytes: reaches the length limits. */
static void check_validators_at(const uint8_t *data, size_t size, size_t len) {
  static uint8_t s[GT_TOKEN_MAX + 1];
  size_t i;
  CHECK(len <= sizeof s);
  for (i = 0; i < len; i++)
    s[i] = data[i % size];
  check_validators(s, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_base64(data, size);
  check_validators(data, size);
  if (size > 0) {
    check_validators_at(data, size, GT_CREDENTIAL_MAX);
    check_validators_at(data, size, GT_CREDENTIAL_MAX + 1);
    check_validators_at(data, size, GT_TOKEN_MAX);
    check_validators_at(data, size, GT_TOKEN_MAX + 1);
  }
  return 0;
}
