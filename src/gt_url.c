#include "gt_url.h"

#include <string.h>

#include "gt_ascii.h"

const char *gt_user_id_problem(const char *id, size_t len) {
  size_t i;
  if (len == 0)
    return "user id is empty";
  if (len > GT_USER_ID_MAX)
    return "user id is too long";
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)id[i];
    if (c < 0x20 || c == 0x7f)
      return "user id contains a control character";
  }
  if (gt_ascii_is(id, len, "me") || gt_ascii_is(id, len, "timeout"))
    return "user id names another route of the Tokens API";
  if ((len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.'))
    return "user id is a relative path segment";
  return NULL;
}

const char *gt_token_problem(const char *token, size_t len) {
  size_t i;
  if (len == 0)
    return "access token is empty";
  if (len > GT_TOKEN_MAX)
    return "access token is too long";
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)token[i];
    if (c <= 0x20 || c >= 0x7f)
      return "access token contains a byte that is not visible ASCII";
  }
  return NULL;
}

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Undoes a partial encoding: like gt_buffer_append, a refused append
 * leaves the buffer as it was, never holding a truncated segment (the
 * prefix "me" of "meX" would name another route). */
static int rollback(gt_buffer *dst, size_t len, int rc) {
  dst->len = len;
  if (dst->data)
    dst->data[len] = '\0';
  return rc;
}

int gt_append_segment(gt_buffer *dst, const char *src, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i, before = dst->len;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)src[i];
    int rc;
    if (unreserved(c)) {
      rc = gt_buffer_append(dst, (const char *)&src[i], 1);
    } else {
      char esc[3];
      esc[0] = '%';
      esc[1] = hex[c >> 4];
      esc[2] = hex[c & 15];
      rc = gt_buffer_append(dst, esc, 3);
    }
    if (rc != GT_BUFFER_OK)
      return rollback(dst, before, rc);
  }
  return GT_BUFFER_OK;
}

static const char *credential_problem(const char *s, size_t len, const char *empty,
                                      const char *too_long, const char *control) {
  size_t i;
  if (len == 0)
    return empty;
  if (len > GT_CREDENTIAL_MAX)
    return too_long;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f)
      return control;
  }
  return NULL;
}

const char *gt_client_id_problem(const char *id, size_t len) {
  const char *problem = credential_problem(id, len, "client id is empty", "client id is too long",
                                           "client id contains a control character");
  if (problem == NULL && memchr(id, ':', len) != NULL)
    problem = "client id contains ':'";
  return problem;
}

const char *gt_client_secret_problem(const char *secret, size_t len) {
  return credential_problem(secret, len, "client secret is empty", "client secret is too long",
                            "client secret contains a control character");
}

int gt_append_base64(gt_buffer *dst, const char *src, size_t len) {
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *p = (const unsigned char *)src;
  size_t i, before = dst->len;
  for (i = 0; i < len; i += 3) {
    unsigned long n = (unsigned long)p[i] << 16;
    char out[4];
    if (i + 1 < len)
      n |= (unsigned long)p[i + 1] << 8;
    if (i + 2 < len)
      n |= p[i + 2];
    out[0] = alphabet[(n >> 18) & 63];
    out[1] = alphabet[(n >> 12) & 63];
    out[2] = i + 1 < len ? alphabet[(n >> 6) & 63] : '=';
    out[3] = i + 2 < len ? alphabet[n & 63] : '=';
    int rc = gt_buffer_append(dst, out, 4);
    if (rc != GT_BUFFER_OK)
      return rollback(dst, before, rc);
  }
  return GT_BUFFER_OK;
}
