#include "gt_transfer.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The URL buffer's limit: the base URL plus a fully escaped user id. */
#define GT_URL_LIMIT (16 * 1024)

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  gt_transfer *t = ud;
  size_t len = size * n;
  t->header_bytes += len;
  if (t->header_bytes > GT_HEADER_BLOCK_MAX) {
    t->cut = GT_CUT_HEADERS;
    return 0;
  }
  if (gt_meta_feed(&t->meta, data, len) == GT_FIELD_STATUS_LINE)
    t->headers_ended = 0;
  else if ((len == 2 && data[0] == '\r' && data[1] == '\n') || (len == 1 && data[0] == '\n'))
    t->headers_ended = 1;
  if (!t->is_head && t->meta.content_length > 0 &&
      (unsigned long long)t->meta.content_length > t->config->max_body) {
    t->cut = GT_CUT_BODY;
    return 0; /* refuse before a byte of the body is read */
  }
  return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  gt_transfer *t = ud;
  size_t len = size * n;
  int rc = gt_buffer_append(&t->body, data, len);
  if (rc == GT_BUFFER_OK)
    return len;
  t->cut = rc == GT_BUFFER_TOO_LARGE ? GT_CUT_BODY : GT_CUT_NOMEM;
  return 0; /* libcurl stops the transfer with CURLE_WRITE_ERROR */
}

/* libcurl calls this whenever it runs the transfer, a signal's EINTR
 * included: the moment to ask whether to stop. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  gt_transfer *t = ud;
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  if (t->config->interrupted(t->config->interrupt_ud)) {
    t->cut = GT_CUT_INTERRUPTED;
    return 1;
  }
  return 0;
}

int gt_transfer_init(gt_transfer *t, const gt_config *c) {
  memset(t, 0, sizeof *t);
  t->config = c;
  gt_buffer_init(&t->url, GT_URL_LIMIT);
  gt_buffer_init(&t->body, c->max_body);
  gt_buffer_init(&t->headers_key, (size_t)-1);
  t->easy = curl_easy_init();
  if (t->easy == NULL)
    return -1;
  /* What never changes between requests is set once. */
  curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->curl_error);
  curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
  if (c->interrupted) {
    curl_easy_setopt(t->easy, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(t->easy, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(t->easy, CURLOPT_NOPROGRESS, 0L);
  }
  curl_easy_setopt(t->easy, CURLOPT_USERAGENT, c->user_agent);
  curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(t->easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  if (c->ca_file)
    curl_easy_setopt(t->easy, CURLOPT_CAINFO, c->ca_file);
  if (c->proxy)
    curl_easy_setopt(t->easy, CURLOPT_PROXY, c->proxy);
  if (c->no_proxy)
    curl_easy_setopt(t->easy, CURLOPT_NOPROXY, c->no_proxy);
  return 0;
}

/* Drops the cached header list and its key, credential bytes zeroed. */
void gt_transfer_forget_headers(gt_transfer *t) {
  if (t->easy)
    curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(t->headers);
  t->headers = NULL;
  if (t->headers_key.data)
    memset(t->headers_key.data, 0, t->headers_key.cap);
  gt_buffer_free(&t->headers_key);
}

void gt_transfer_cleanup(gt_transfer *t) {
  if (t->easy)
    curl_easy_cleanup(t->easy);
  t->easy = NULL;
  gt_transfer_forget_headers(t);
  gt_buffer_free(&t->url);
  gt_buffer_free(&t->body);
}

void gt_result_init(gt_result *res) {
  memset(res, 0, sizeof *res);
  gt_meta_clear(&res->meta);
  res->body = "";
  res->url = "";
  res->method = "";
}

gt_outcome gt_result_fail(gt_result *res, gt_outcome o, const char *code, const char *message) {
  res->outcome = o;
  res->code = code;
  snprintf(res->message, sizeof res->message, "%s", message);
  return o;
}

long long gt_http_date_delay(const char *date) {
  time_t when = curl_getdate(date, NULL);
  time_t now = time(NULL);
  if (when == -1)
    return -1;
  return when > now ? (long long)(when - now) : 0;
}

#define CODE_NAME(x) case x: return #x;
static const char *curl_code_name(CURLcode rc) {
  switch (rc) {
  CODE_NAME(CURLE_UNSUPPORTED_PROTOCOL)
  CODE_NAME(CURLE_URL_MALFORMAT)
  CODE_NAME(CURLE_COULDNT_RESOLVE_PROXY)
  CODE_NAME(CURLE_COULDNT_RESOLVE_HOST)
  CODE_NAME(CURLE_COULDNT_CONNECT)
  CODE_NAME(CURLE_WEIRD_SERVER_REPLY)
  CODE_NAME(CURLE_HTTP2)
  CODE_NAME(CURLE_PARTIAL_FILE)
  CODE_NAME(CURLE_WRITE_ERROR)
  CODE_NAME(CURLE_OUT_OF_MEMORY)
  CODE_NAME(CURLE_OPERATION_TIMEDOUT)
  CODE_NAME(CURLE_SSL_CONNECT_ERROR)
  CODE_NAME(CURLE_GOT_NOTHING)
  CODE_NAME(CURLE_SEND_ERROR)
  CODE_NAME(CURLE_RECV_ERROR)
  CODE_NAME(CURLE_SSL_CERTPROBLEM)
  CODE_NAME(CURLE_SSL_CIPHER)
  CODE_NAME(CURLE_PEER_FAILED_VERIFICATION)
  CODE_NAME(CURLE_BAD_CONTENT_ENCODING)
  CODE_NAME(CURLE_SSL_CACERT_BADFILE)
  CODE_NAME(CURLE_SSL_SHUTDOWN_FAILED)
  CODE_NAME(CURLE_SSL_CRL_BADFILE)
  CODE_NAME(CURLE_SSL_ISSUER_ERROR)
  CODE_NAME(CURLE_SSL_PINNEDPUBKEYNOTMATCH)
  CODE_NAME(CURLE_SSL_INVALIDCERTSTATUS)
  CODE_NAME(CURLE_PROXY)
  CODE_NAME(CURLE_ABORTED_BY_CALLBACK)
  default: return "CURLE_OTHER";
  }
}
#undef CODE_NAME

static gt_outcome classify(CURLcode rc) {
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT:
    return GT_FAIL_TIMEOUT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
    return GT_FAIL_TLS;
  default:
    return GT_FAIL_NETWORK;
  }
}

/* Adds a line to a header list; on failure frees the list and returns NULL. */
static struct curl_slist *add_header(struct curl_slist *list, const char *line) {
  struct curl_slist *grown = curl_slist_append(list, line);
  if (grown == NULL)
    curl_slist_free_all(list);
  return grown;
}

static struct curl_slist *request_headers(const gt_config *c, const gt_request *rq) {
  struct curl_slist *list = NULL;
  gt_buffer line;
  size_t i;

  list = add_header(list, "Accept: application/json");
  for (i = 0; list && i < c->header_count; i++)
    list = add_header(list, c->headers[i]);
  if (list && rq->content_type) {
    char type[96];
    snprintf(type, sizeof type, "Content-Type: %s", rq->content_type);
    list = add_header(list, type);
    if (list)
      list = add_header(list, "Expect:"); /* no 100-continue round trip */
  }
  if (list == NULL)
    return NULL;
  gt_buffer_init(&line, (size_t)-1);
  if (gt_buffer_puts(&line, "Authorization: ") == GT_BUFFER_OK &&
      gt_buffer_puts(&line, rq->auth_scheme) == GT_BUFFER_OK &&
      gt_buffer_append(&line, rq->auth_value, rq->auth_len) == GT_BUFFER_OK) {
    list = add_header(list, line.data);
  } else {
    curl_slist_free_all(list);
    list = NULL;
  }
  if (line.data)
    memset(line.data, 0, line.cap); /* no credential left in freed memory */
  gt_buffer_free(&line);
  return list;
}

static void set_method(CURL *easy, const gt_request *rq) {
  /* POSTFIELDS (even NULL) implies POST, so it is cleared first and
   * HTTPGET then resets the method, NOBODY and POST. */
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
  curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, NULL);
  if (strcmp(rq->method, "HEAD") == 0) {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (rq->body) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    if (strcmp(rq->method, "POST") != 0)
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, rq->method);
  } else if (strcmp(rq->method, "GET") != 0) {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, rq->method);
  }
}

/* True when the cached header list was built for this request's content
 * type and credential. */
static int headers_fit(const gt_transfer *t, const gt_request *rq) {
  const char *type = rq->content_type ? rq->content_type : "";
  size_t type_len = strlen(type), scheme_len = strlen(rq->auth_scheme);
  const char *k = t->headers_key.data;
  if (t->headers == NULL || t->headers_key.len != type_len + 1 + scheme_len + rq->auth_len)
    return 0;
  return memcmp(k, type, type_len) == 0 && k[type_len] == '\n' &&
         memcmp(k + type_len + 1, rq->auth_scheme, scheme_len) == 0 &&
         memcmp(k + type_len + 1 + scheme_len, rq->auth_value, rq->auth_len) == 0;
}

/* The header list for rq: the cached one when it fits, else a new one. */
static int ensure_headers(gt_transfer *t, const gt_request *rq) {
  if (headers_fit(t, rq))
    return 0;
  gt_transfer_forget_headers(t);
  gt_buffer_init(&t->headers_key, (size_t)-1);
  if (gt_buffer_puts(&t->headers_key, rq->content_type ? rq->content_type : "") != GT_BUFFER_OK ||
      gt_buffer_puts(&t->headers_key, "\n") != GT_BUFFER_OK ||
      gt_buffer_puts(&t->headers_key, rq->auth_scheme) != GT_BUFFER_OK ||
      gt_buffer_append(&t->headers_key, rq->auth_value, rq->auth_len) != GT_BUFFER_OK) {
    gt_transfer_forget_headers(t);
    return -1;
  }
  t->headers = request_headers(t->config, rq);
  if (t->headers == NULL) {
    gt_transfer_forget_headers(t);
    return -1;
  }
  return 0;
}

gt_outcome gt_transfer_prepare(gt_transfer *t, const gt_request *rq, gt_result *res) {
  res->method = rq->method;
  res->url = t->url.data;
  if (ensure_headers(t, rq) != 0)
    return gt_result_fail(res, GT_FAIL_NOMEM, "CURLE_OUT_OF_MEMORY", "not enough memory");
  gt_buffer_clear(&t->body);
  gt_meta_clear(&t->meta);
  t->cut = GT_CUT_NONE;
  t->header_bytes = 0;
  t->headers_ended = 0;
  t->curl_error[0] = '\0';
  t->method = rq->method;
  t->is_head = strcmp(rq->method, "HEAD") == 0;
  curl_easy_setopt(t->easy, CURLOPT_URL, t->url.data);
  set_method(t->easy, rq);
  curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
  return GT_DONE;
}

gt_outcome gt_transfer_finish(gt_transfer *t, CURLcode rc, gt_result *res) {
  long status = 0;

  res->method = t->method;
  res->url = t->url.data;
  res->meta = t->meta;
  if (rc != CURLE_OK) {
    char msg[96];
    gt_buffer_clear(&t->body);
    switch (t->cut) {
    case GT_CUT_NOMEM:
      return gt_result_fail(res, GT_FAIL_NOMEM, "CURLE_OUT_OF_MEMORY", "not enough memory");
    case GT_CUT_BODY:
      snprintf(msg, sizeof msg, "response body exceeds max_body (%lu bytes)",
               (unsigned long)t->config->max_body);
      return gt_result_fail(res, GT_FAIL_TOO_LARGE, "too_large", msg);
    case GT_CUT_HEADERS:
      snprintf(msg, sizeof msg, "response headers exceed %d bytes", GT_HEADER_BLOCK_MAX);
      return gt_result_fail(res, GT_FAIL_TOO_LARGE, "too_large", msg);
    case GT_CUT_INTERRUPTED:
      return gt_result_fail(res, GT_FAIL_INTERRUPTED, "interrupted", "interrupted");
    case GT_CUT_NONE:
      break;
    }
    if (rc == CURLE_OUT_OF_MEMORY)
      return gt_result_fail(res, GT_FAIL_TOO_LARGE, "CURLE_OUT_OF_MEMORY",
                            "a response header line is longer than libcurl takes (100 KiB)");
    return gt_result_fail(res, classify(rc), curl_code_name(rc),
                          t->curl_error[0] ? t->curl_error : curl_easy_strerror(rc));
  }
  /* libcurl takes a connection closed inside the headers of a response
   * that has no body (HEAD, 204) for its end. */
  if (!t->headers_ended)
    return gt_result_fail(res, GT_FAIL_NETWORK, "CURLE_PARTIAL_FILE",
                          "the connection closed inside the response headers");
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  res->outcome = GT_DONE;
  res->status = status;
  res->body = t->body.data ? t->body.data : "";
  res->body_len = t->body.len;
  return GT_DONE;
}
