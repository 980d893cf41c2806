#include "gt_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "gt_buffer.h"
#include "gt_url.h"

#define GT_API_TOKENS "/api/v2/tokens/"
/* The URL buffer's limit: the base URL plus a fully escaped user id. */
#define GT_URL_LIMIT (16 * 1024)

struct gt_client {
  CURL *easy;
  char *base_url;            /* without a trailing slash */
  char *login_url;           /* likewise; the OAuth host */
  char *user_agent;
  char *ca_file;
  char *proxy;
  char *no_proxy;
  char **headers;            /* extra "Name: value" lines */
  size_t header_count;
  long timeout_ms;
  long connect_timeout_ms;
  size_t max_body;
  gt_buffer url;
  gt_buffer body;
  gt_meta meta;
  int cut;                   /* why a callback stopped the transfer: GT_BUFFER_* */
  int is_head;               /* a HEAD reply's Content-Length announces no body */
  char curl_error[CURL_ERROR_SIZE];
};

int gt_global_init(void) {
  static int done = 0; /* the one static: libcurl's init is per process */
  if (!done) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return -1;
    done = 1;
  }
  return 0;
}

void gt_library_agent(char *buf, size_t size) {
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  snprintf(buf, size, "genesys-tokens/%s libcurl/%s", GT_VERSION,
           v && v->version ? v->version : "unknown");
}

static char *copy_string(const char *s, int *failed) {
  char *p;
  if (s == NULL)
    return NULL;
  p = malloc(strlen(s) + 1);
  if (p == NULL)
    *failed = 1;
  else
    strcpy(p, s);
  return p;
}

void gt_client_free(gt_client *c) {
  size_t i;
  if (c == NULL)
    return;
  if (c->easy)
    curl_easy_cleanup(c->easy);
  for (i = 0; i < c->header_count; i++)
    free(c->headers[i]);
  free(c->headers);
  free(c->base_url);
  free(c->login_url);
  free(c->no_proxy);
  free(c->user_agent);
  free(c->ca_file);
  free(c->proxy);
  gt_buffer_free(&c->url);
  gt_buffer_free(&c->body);
  free(c);
}

static size_t on_header(char *data, size_t size, size_t n, void *ud) {
  gt_client *c = ud;
  size_t len = size * n;
  gt_meta_feed(&c->meta, data, len);
  if (!c->is_head && c->meta.content_length > 0 &&
      (unsigned long long)c->meta.content_length > c->max_body) {
    c->cut = GT_BUFFER_TOO_LARGE;
    return 0; /* refuse before a byte of the body is read */
  }
  return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud) {
  gt_client *c = ud;
  size_t len = size * n;
  int rc = gt_buffer_append(&c->body, data, len);
  if (rc == GT_BUFFER_OK)
    return len;
  c->cut = rc;
  return 0; /* libcurl stops the transfer with CURLE_WRITE_ERROR */
}

/* A copy of a URL without its trailing slashes. */
static char *copy_url(const char *url, int *failed) {
  char *p = copy_string(url, failed);
  if (p) {
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
      p[--n] = '\0';
  }
  return p;
}

gt_client *gt_client_new(const gt_options *o, char *err, size_t err_size) {
  gt_client *c;
  int failed = 0;
  char library[96];

  if (o->base_url == NULL || o->base_url[0] == '\0') {
    snprintf(err, err_size, "base_url is required");
    return NULL;
  }
  c = calloc(1, sizeof *c);
  if (c == NULL) {
    snprintf(err, err_size, "not enough memory");
    return NULL;
  }
  gt_buffer_init(&c->url, GT_URL_LIMIT);
  gt_buffer_init(&c->body, o->max_body);
  c->timeout_ms = o->timeout_ms;
  c->connect_timeout_ms = o->connect_timeout_ms;
  c->max_body = o->max_body;
  c->base_url = copy_url(o->base_url, &failed);
  c->login_url = copy_url(o->login_url ? o->login_url : o->base_url, &failed);
  c->no_proxy = copy_string(o->no_proxy, &failed);
  c->ca_file = copy_string(o->ca_file, &failed);
  c->proxy = copy_string(o->proxy, &failed);

  gt_library_agent(library, sizeof library);
  if (o->user_agent && o->user_agent[0]) {
    size_t n = strlen(o->user_agent) + 1 + strlen(library) + 1;
    c->user_agent = malloc(n);
    if (c->user_agent)
      snprintf(c->user_agent, n, "%s %s", o->user_agent, library);
    else
      failed = 1;
  } else {
    c->user_agent = copy_string(library, &failed);
  }

  if (o->header_count) {
    c->headers = calloc(o->header_count, sizeof *c->headers);
    if (c->headers == NULL)
      failed = 1;
    else
      for (c->header_count = 0; c->header_count < o->header_count; c->header_count++)
        c->headers[c->header_count] = copy_string(o->headers[c->header_count], &failed);
  }

  if (!failed)
    c->easy = curl_easy_init();
  if (failed || c->easy == NULL) {
    snprintf(err, err_size, failed ? "not enough memory" : "libcurl could not create a handle");
    gt_client_free(c);
    return NULL;
  }

  /* What never changes between requests is set once. */
  curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->curl_error);
  curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
  curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(c->easy, CURLOPT_USERAGENT, c->user_agent);
  curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  if (c->ca_file)
    curl_easy_setopt(c->easy, CURLOPT_CAINFO, c->ca_file);
  if (c->proxy)
    curl_easy_setopt(c->easy, CURLOPT_PROXY, c->proxy);
  if (c->no_proxy)
    curl_easy_setopt(c->easy, CURLOPT_NOPROXY, c->no_proxy);
  return c;
}

const char *gt_outcome_kind(gt_outcome o) {
  switch (o) {
  case GT_DONE: return "http";
  case GT_FAIL_ARGUMENT: return "argument";
  case GT_FAIL_TIMEOUT: return "timeout";
  case GT_FAIL_NETWORK: return "network";
  case GT_FAIL_TLS: return "tls";
  case GT_FAIL_TOO_LARGE: return "too_large";
  case GT_FAIL_NOMEM: return "memory";
  }
  return "network";
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
  default: return "CURLE_OTHER";
  }
}
#undef CODE_NAME

static gt_outcome classify(CURLcode rc) {
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT:
    return GT_FAIL_TIMEOUT;
  case CURLE_OUT_OF_MEMORY:
    return GT_FAIL_NOMEM;
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

static gt_outcome fail(gt_result *res, gt_outcome o, const char *code, const char *message) {
  res->outcome = o;
  res->code = code;
  snprintf(res->message, sizeof res->message, "%s", message);
  return o;
}

/* Adds a line to a header list; on failure frees the list and returns NULL. */
static struct curl_slist *add_header(struct curl_slist *list, const char *line) {
  struct curl_slist *grown = curl_slist_append(list, line);
  if (grown == NULL)
    curl_slist_free_all(list);
  return grown;
}

/* One request: c->url holds the URL; `auth` the Authorization value. */
typedef struct request {
  const char *method;        /* GET, HEAD, DELETE, PUT or POST */
  const gt_buffer *auth;     /* "Bearer ..." or "Basic ..." */
  const char *content_type;  /* with a body only */
  const char *body;
  size_t body_len;
} request;

static struct curl_slist *request_headers(gt_client *c, const request *rq) {
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
      gt_buffer_append(&line, rq->auth->data, rq->auth->len) == GT_BUFFER_OK) {
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

static void set_method(CURL *easy, const request *rq) {
  curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L); /* resets NOBODY and POST */
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

static gt_outcome perform(gt_client *c, const request *rq, gt_result *res) {
  struct curl_slist *headers;
  CURLcode rc;
  long status = 0;

  res->method = rq->method;
  res->url = c->url.data;
  headers = request_headers(c, rq);
  if (headers == NULL)
    return fail(res, GT_FAIL_NOMEM, "CURLE_OUT_OF_MEMORY", "not enough memory");

  gt_buffer_clear(&c->body);
  gt_meta_clear(&c->meta);
  c->cut = GT_BUFFER_OK;
  c->curl_error[0] = '\0';
  c->is_head = strcmp(rq->method, "HEAD") == 0;

  curl_easy_setopt(c->easy, CURLOPT_URL, c->url.data);
  set_method(c->easy, rq);
  curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
  rc = curl_easy_perform(c->easy);
  curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, NULL);
  curl_slist_free_all(headers);

  res->meta = c->meta;
  if (rc != CURLE_OK) {
    gt_buffer_clear(&c->body);
    if (c->cut == GT_BUFFER_NOMEM)
      return fail(res, GT_FAIL_NOMEM, "CURLE_OUT_OF_MEMORY", "not enough memory");
    if (c->cut == GT_BUFFER_TOO_LARGE) {
      char msg[96];
      snprintf(msg, sizeof msg, "response body exceeds max_body (%lu bytes)",
               (unsigned long)c->max_body);
      return fail(res, GT_FAIL_TOO_LARGE, "too_large", msg);
    }
    return fail(res, classify(rc), curl_code_name(rc),
                c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
  res->outcome = GT_DONE;
  res->status = status;
  res->body = c->body.data ? c->body.data : "";
  res->body_len = c->body.len;
  return GT_DONE;
}

static void result_init(gt_result *res) {
  memset(res, 0, sizeof *res);
  gt_meta_clear(&res->meta);
  res->body = "";
  res->url = "";
  res->method = "";
}

/* Starts c->url as `base` + `path`; the caller may append the rest. */
static int url_start(gt_client *c, const char *base, const char *path) {
  int rc;
  gt_buffer_clear(&c->url);
  rc = gt_buffer_puts(&c->url, base);
  return rc == GT_BUFFER_OK ? gt_buffer_puts(&c->url, path) : rc;
}

static gt_outcome buffer_failed(gt_result *res, int rc, const char *what) {
  if (rc == GT_BUFFER_TOO_LARGE) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s is too long", what);
    return fail(res, GT_FAIL_ARGUMENT, "invalid_argument", msg);
  }
  return fail(res, GT_FAIL_NOMEM, "CURLE_OUT_OF_MEMORY", "not enough memory");
}

/* A call with a bearer token to base_url + path (+ an escaped segment). */
static gt_outcome bearer_call(gt_client *c, const char *method, const char *path,
                              const char *segment, size_t segment_len,
                              const char *token, size_t token_len,
                              const char *body, size_t body_len, gt_result *res) {
  const char *problem = gt_token_problem(token, token_len);
  request rq;
  gt_buffer auth;
  gt_outcome outcome;
  int rc;

  if (problem)
    return fail(res, GT_FAIL_ARGUMENT, "invalid_argument", problem);
  rc = url_start(c, c->base_url, path);
  if (rc == GT_BUFFER_OK && segment)
    rc = gt_append_segment(&c->url, segment, segment_len);
  if (rc != GT_BUFFER_OK)
    return buffer_failed(res, rc, "request URL");

  gt_buffer_init(&auth, (size_t)-1);
  rc = gt_buffer_puts(&auth, "Bearer ");
  if (rc == GT_BUFFER_OK)
    rc = gt_buffer_append(&auth, token, token_len);
  if (rc != GT_BUFFER_OK) {
    gt_buffer_free(&auth);
    return buffer_failed(res, rc, "access token");
  }
  rq.method = method;
  rq.auth = &auth;
  rq.body = body;
  rq.body_len = body_len;
  rq.content_type = body ? "application/json" : NULL;
  outcome = perform(c, &rq, res);
  memset(auth.data, 0, auth.cap);
  gt_buffer_free(&auth);
  return outcome;
}

gt_outcome gt_get_token_info(gt_client *c, const char *token, size_t token_len,
                             int preserve_idle_ttl, gt_result *res) {
  result_init(res);
  return bearer_call(c, "GET",
                     preserve_idle_ttl ? GT_API_TOKENS "me?preserveIdleTTL=true" : GT_API_TOKENS "me",
                     NULL, 0, token, token_len, NULL, 0, res);
}

gt_outcome gt_verify_token(gt_client *c, const char *token, size_t token_len, gt_result *res) {
  result_init(res);
  return bearer_call(c, "HEAD", GT_API_TOKENS "me", NULL, 0, token, token_len, NULL, 0, res);
}

gt_outcome gt_revoke_own_token(gt_client *c, const char *token, size_t token_len,
                               gt_result *res) {
  result_init(res);
  return bearer_call(c, "DELETE", GT_API_TOKENS "me", NULL, 0, token, token_len, NULL, 0, res);
}

gt_outcome gt_revoke_user_tokens(gt_client *c, const char *token, size_t token_len,
                                 const char *user_id, size_t user_id_len,
                                 gt_result *res) {
  const char *problem;
  result_init(res);
  problem = gt_user_id_problem(user_id, user_id_len);
  if (problem)
    return fail(res, GT_FAIL_ARGUMENT, "invalid_argument", problem);
  return bearer_call(c, "DELETE", GT_API_TOKENS, user_id, user_id_len, token, token_len,
                     NULL, 0, res);
}

gt_outcome gt_get_idle_timeout(gt_client *c, const char *token, size_t token_len,
                               gt_result *res) {
  result_init(res);
  return bearer_call(c, "GET", GT_API_TOKENS "timeout", NULL, 0, token, token_len, NULL, 0, res);
}

gt_outcome gt_put_idle_timeout(gt_client *c, const char *token, size_t token_len,
                               const char *json, size_t json_len, gt_result *res) {
  result_init(res);
  return bearer_call(c, "PUT", GT_API_TOKENS "timeout", NULL, 0, token, token_len,
                     json, json_len, res);
}

gt_outcome gt_login_client_credentials(gt_client *c, const char *id, size_t id_len,
                                       const char *secret, size_t secret_len,
                                       gt_result *res) {
  static const char form[] = "grant_type=client_credentials";
  const char *problem;
  gt_buffer pair, auth;
  request rq;
  gt_outcome outcome;
  int rc;

  result_init(res);
  problem = gt_client_id_problem(id, id_len);
  if (problem == NULL)
    problem = gt_client_secret_problem(secret, secret_len);
  if (problem)
    return fail(res, GT_FAIL_ARGUMENT, "invalid_argument", problem);
  rc = url_start(c, c->login_url, "/oauth/token");
  if (rc != GT_BUFFER_OK)
    return buffer_failed(res, rc, "login URL");

  /* Authorization: Basic base64(id:secret), as every official SDK sends. */
  gt_buffer_init(&pair, (size_t)-1);
  gt_buffer_init(&auth, (size_t)-1);
  rc = gt_buffer_append(&pair, id, id_len);
  if (rc == GT_BUFFER_OK)
    rc = gt_buffer_puts(&pair, ":");
  if (rc == GT_BUFFER_OK)
    rc = gt_buffer_append(&pair, secret, secret_len);
  if (rc == GT_BUFFER_OK)
    rc = gt_buffer_puts(&auth, "Basic ");
  if (rc == GT_BUFFER_OK)
    rc = gt_append_base64(&auth, pair.data, pair.len);
  if (pair.data)
    memset(pair.data, 0, pair.cap);
  gt_buffer_free(&pair);
  if (rc != GT_BUFFER_OK) {
    gt_buffer_free(&auth);
    return buffer_failed(res, rc, "client credentials");
  }
  rq.method = "POST";
  rq.auth = &auth;
  rq.content_type = "application/x-www-form-urlencoded";
  rq.body = form;
  rq.body_len = sizeof form - 1;
  outcome = perform(c, &rq, res);
  memset(auth.data, 0, auth.cap);
  gt_buffer_free(&auth);
  return outcome;
}
