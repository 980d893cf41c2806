/* ASCII case folding, the same in every locale: header names and the
 * route names a user id may not be. */
#ifndef GT_ASCII_H
#define GT_ASCII_H

#include <stddef.h>
#include <string.h>

/* True when the `len` bytes at `s` are `lower` (lower case) in any case. */
static inline int gt_ascii_is(const char *s, size_t len, const char *lower) {
  size_t i;
  if (len != strlen(lower))
    return 0;
  for (i = 0; i < len; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c - 'A' + 'a');
    if (c != lower[i])
      return 0;
  }
  return 1;
}

#endif
