/* What may go into a request line or header: user ids as one path
 * segment, bearer tokens, base URLs. Pure functions, no libcurl. */
#ifndef GT_URL_H
#define GT_URL_H

#include <stddef.h>

#include "gt_buffer.h"

/* The longest user id and access token accepted. Real ones are a 36-byte
 * UUID and a few hundred bytes; anything near these limits is a mistake. */
#define GT_USER_ID_MAX 1024
#define GT_TOKEN_MAX 8192
#define GT_CREDENTIAL_MAX 1024

/* NULL when `id` can be sent as the {userId} segment of
 * /api/v2/tokens/{userId}; otherwise why not. A segment that names another
 * route ("me", "timeout") or the parent (".", "..") is refused, so that no
 * input reaches a route the caller did not ask for. */
const char *gt_user_id_problem(const char *id, size_t len);

/* NULL when `token` can be sent as "Authorization: Bearer <token>":
 * visible ASCII only, so no header can be injected. */
const char *gt_token_problem(const char *token, size_t len);

/* NULL when an OAuth client id or secret can be sent in HTTP Basic
 * credentials: not empty, no control characters, and no ':' in the id
 * (it would split the pair). */
const char *gt_client_id_problem(const char *id, size_t len);
const char *gt_client_secret_problem(const char *secret, size_t len);

/* Appends the standard base64 encoding (with padding) of `src`. */
int gt_append_base64(gt_buffer *dst, const char *src, size_t len);

/* Appends `src` percent-encoded as exactly one path segment: every byte
 * but the RFC 3986 unreserved set becomes %XX. */
int gt_append_segment(gt_buffer *dst, const char *src, size_t len);

#endif
