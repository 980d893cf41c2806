/* One HTTP transfer on one libcurl easy handle: its URL, the response
 * body (capped at max_body) and headers, the request's header list. The
 * client owns one for its calls; a bulk run owns one per slot. Private to
 * the C core. */
#ifndef GT_TRANSFER_H
#define GT_TRANSFER_H

#include <curl/curl.h>

#include "gt_buffer.h"
#include "gt_client.h"
#include "gt_headers.h"

/* What every transfer of a client shares: the client's settings. */
typedef struct gt_config {
  char *base_url;       /* without a trailing slash */
  char *login_url;      /* likewise; the OAuth host */
  char *user_agent;
  char *ca_file;
  char *proxy;
  char *no_proxy;
  char **headers;       /* extra "Name: value" lines */
  size_t header_count;
  long timeout_ms;
  long connect_timeout_ms;
  size_t max_body;
  gt_interrupt_fn interrupted;
  void *interrupt_ud;
} gt_config;

/* Why a callback of ours stopped a transfer. */
typedef enum gt_cut {
  GT_CUT_NONE = 0,
  GT_CUT_BODY,        /* over max_body */
  GT_CUT_HEADERS,     /* over GT_HEADER_BLOCK_MAX */
  GT_CUT_NOMEM,
  GT_CUT_INTERRUPTED
} gt_cut;

typedef struct gt_transfer {
  CURL *easy;
  const gt_config *config;
  gt_buffer url;
  gt_buffer body;
  gt_meta meta;
  struct curl_slist *headers; /* kept while the credential stays the same */
  gt_buffer headers_key;      /* what `headers` was built for: type, scheme, credential */
  const char *method;
  gt_cut cut;
  size_t header_bytes;        /* of this attempt's header lines, interim ones included */
  int headers_ended;          /* the last response's blank line came */
  int is_head;                /* a HEAD reply's Content-Length announces no body */
  char curl_error[CURL_ERROR_SIZE];
} gt_transfer;

/* A request to prepare: the URL is already in t->url. */
typedef struct gt_request {
  const char *method;         /* GET, HEAD, DELETE, PUT or POST */
  const char *auth_scheme;    /* "Bearer " or "Basic " */
  const char *auth_value;     /* the token, or the base64 credentials */
  size_t auth_len;
  const char *content_type;   /* with a body only */
  const char *body;           /* must outlive the transfer */
  size_t body_len;
} gt_request;

/* 0, or -1 when libcurl cannot give a handle. */
int gt_transfer_init(gt_transfer *t, const gt_config *config);
void gt_transfer_cleanup(gt_transfer *t);

/* Sets the request up on the easy handle; GT_DONE when it can be performed
 * (or added to a multi handle), a failure in res otherwise. */
gt_outcome gt_transfer_prepare(gt_transfer *t, const gt_request *rq, gt_result *res);

/* Fills res from libcurl's result. The header list stays for the next
 * request with the same credential (most calls of a client). */
gt_outcome gt_transfer_finish(gt_transfer *t, CURLcode rc, gt_result *res);

/* Drops the cached header list (and zeroes the credential it was keyed on). */
void gt_transfer_forget_headers(gt_transfer *t);

void gt_result_init(gt_result *res);
gt_outcome gt_result_fail(gt_result *res, gt_outcome o, const char *code, const char *message);

/* Seconds from now until an HTTP-date (RFC 9110: IMF-fixdate and the two
 * obsolete forms), 0 when it has passed; -1 when `date` is not one. */
long long gt_http_date_delay(const char *date);

#endif
