/* The C core: one client object per configuration, holding one libcurl easy
 * handle (so connections stay alive across calls) and the buffers that
 * receive responses. No Lua here: the binding lives in lua_core.c. */
#ifndef GT_CLIENT_H
#define GT_CLIENT_H

#include <stddef.h>

#include "gt_headers.h"

#define GT_VERSION "0.1.0"
#define GT_MESSAGE_MAX 320

/* Asked while a transfer runs: nonzero stops it (GT_FAIL_INTERRUPTED).
 * The binding answers "has the interpreter been interrupted (Ctrl-C)?". */
typedef int (*gt_interrupt_fn)(void *ud);

typedef struct gt_options {
  const char *base_url;       /* scheme://host[:port][/prefix]; required */
  const char *login_url;      /* the OAuth host; NULL: the same as base_url */
  const char *user_agent;     /* product token put before ours; may be NULL */
  const char *ca_file;        /* PEM bundle to trust instead of the system's */
  const char *proxy;          /* NULL: libcurl's *_proxy environment applies */
  const char *no_proxy;       /* hosts that bypass the proxy; NULL: no_proxy env */
  long timeout_ms;            /* whole transfer; 0 = no limit */
  long connect_timeout_ms;    /* 0 = libcurl's default */
  size_t max_body;            /* the largest response body accepted */
  const char *const *headers; /* extra "Name: value" lines for every request */
  size_t header_count;
  gt_interrupt_fn interrupted; /* may be NULL: transfers are never stopped */
  void *interrupt_ud;
} gt_options;

/* How a request ended. GT_DONE means an HTTP response arrived, whatever its
 * status; the others are failures before or during the transfer. */
typedef enum gt_outcome {
  GT_DONE = 0,
  GT_FAIL_ARGUMENT,  /* a bad user id or token: nothing was sent */
  GT_FAIL_TIMEOUT,
  GT_FAIL_NETWORK,
  GT_FAIL_TLS,
  GT_FAIL_TOO_LARGE,  /* the body exceeded max_body, or the headers their limit */
  GT_FAIL_INTERRUPTED, /* gt_options.interrupted said stop */
  GT_FAIL_NOMEM       /* our own allocation failed */
} gt_outcome;

typedef struct gt_result {
  gt_outcome outcome;
  const char *method;     /* what was sent, for logs */
  const char *url;        /* owned by the client; valid until its next call */
  long status;            /* HTTP status when outcome == GT_DONE */
  const char *body;       /* owned by the client; valid until its next call */
  size_t body_len;
  gt_meta meta;           /* correlation id, Retry-After, rate-limit headers */
  const char *code;       /* failures: a libcurl code name or "invalid_argument" */
  char message[GT_MESSAGE_MAX];
} gt_result;

typedef struct gt_client gt_client;

/* Returns NULL (and a reason in err) when libcurl cannot be set up. */
gt_client *gt_client_new(const gt_options *opts, char *err, size_t err_size);
void gt_client_free(gt_client *c);

/* The Tokens calls. Each fills *res and returns res->outcome. */
gt_outcome gt_get_token_info(gt_client *c, const char *token, size_t token_len,
                             int preserve_idle_ttl, gt_result *res);
gt_outcome gt_revoke_own_token(gt_client *c, const char *token, size_t token_len,
                               gt_result *res);
gt_outcome gt_revoke_user_tokens(gt_client *c, const char *token, size_t token_len,
                                 const char *user_id, size_t user_id_len,
                                 gt_result *res);
/* HEAD /api/v2/tokens/me: the status tells whether the token is valid. */
gt_outcome gt_verify_token(gt_client *c, const char *token, size_t token_len, gt_result *res);
/* GET and PUT /api/v2/tokens/timeout; `json` is the IdleTokenTimeout body. */
gt_outcome gt_get_idle_timeout(gt_client *c, const char *token, size_t token_len,
                               gt_result *res);
gt_outcome gt_put_idle_timeout(gt_client *c, const char *token, size_t token_len,
                               const char *json, size_t json_len, gt_result *res);
/* POST <login_url>/oauth/token, grant_type=client_credentials, HTTP Basic. */
gt_outcome gt_login_client_credentials(gt_client *c, const char *id, size_t id_len,
                                       const char *secret, size_t secret_len,
                                       gt_result *res);

/* The last HTTP response of the calls above (whatever its status; not a
 * bulk run's), without its body: 1, or 0 when none has come yet. */
int gt_last_response(const gt_client *c, gt_result *res);

/* Bulk revocation on libcurl's multi interface: several DELETEs in flight
 * on one thread, connections shared. The caller starts transfers while
 * slots are free and polls for the finished ones; pacing, retries and
 * pauses are the caller's (the Lua layer's) policy. */
#define GT_BULK_MAX_SLOTS 256
typedef struct gt_bulk gt_bulk;

/* The bulk run copies the client's settings: the client may close first. */
gt_bulk *gt_bulk_new(const gt_client *c, int slots, char *err, size_t err_size);
/* Aborts whatever is in flight. */
void gt_bulk_free(gt_bulk *b);
/* Transfers started and not yet taken back with gt_bulk_release. */
int gt_bulk_in_flight(const gt_bulk *b);
int gt_bulk_free_slots(const gt_bulk *b);
/* Starts DELETE /api/v2/tokens/{user_id}, remembered by `tag`: GT_DONE, or
 * a failure in res (a bad id or token, no free slot). */
gt_outcome gt_bulk_start_revoke(gt_bulk *b, long tag, const char *token, size_t token_len,
                                const char *user_id, size_t user_id_len, gt_result *res);
/* Moves transfers on, waiting at most timeout_ms for activity (less when a
 * signal arrives). Returns how many finished transfers wait to be read
 * (those of earlier polls not yet released included), or -1 if libcurl
 * failed. */
int gt_bulk_poll(gt_bulk *b, int timeout_ms);
/* The i-th finished transfer (0 <= i < what gt_bulk_poll returned): its
 * tag and result, valid until gt_bulk_release. */
long gt_bulk_finished(gt_bulk *b, int i, gt_result *res);
/* Frees the slots of every finished transfer once the caller has what it
 * needs of them: until then a later poll gives them again, so a caller
 * that failed while reading them loses none. */
void gt_bulk_release(gt_bulk *b);

/* The outcome's name in the Lua error model ("timeout", "network", ...). */
const char *gt_outcome_kind(gt_outcome o);

/* Writes "genesys-tokens/<version> libcurl/<version>" into buf. */
void gt_library_agent(char *buf, size_t size);

/* libcurl's process-wide initialisation, done once (it is not thread-safe:
 * call it before starting threads that use this library). 0 on success. */
int gt_global_init(void);

#endif
