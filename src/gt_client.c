#include "gt_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "gt_buffer.h"
#include "gt_transfer.h"
#include "gt_url.h"

#define GT_API_TOKENS "/api/v2/tokens/"

/* The last HTTP response the client's handle received: what
 * gt_last_response gives, kept apart from the handle's own fields, which
 * the next request overwrites even when it gets no response. */
typedef struct gt_last {
  long status;        /* 0: none yet */
  const char *method;
  gt_buffer url;
  gt_meta meta;
} gt_last;

struct gt_client {
  gt_config config;
  gt_transfer single; /* the one-call-at-a-time handle: its connection stays alive */
  gt_last last;
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

static void config_free(gt_config *c) {
  size_t i;
  for (i = 0; i < c->header_count; i++)
    free(c->headers[i]);
  free(c->headers);
  free(c->base_url);
  free(c->login_url);
  free(c->no_proxy);
  free(c->user_agent);
  free(c->ca_file);
  free(c->proxy);
}

/* Copies the options; returns 0, or -1 when memory ran out. */
static int config_copy(gt_config *c, const gt_options *o) {
  int failed = 0;
  char library[96];

  c->timeout_ms = o->timeout_ms;
  c->connect_timeout_ms = o->connect_timeout_ms;
  c->max_body = o->max_body;
  c->interrupted = o->interrupted;
  c->interrupt_ud = o->interrupt_ud;
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
  return failed ? -1 : 0;
}

/* A deep copy of a client's settings, so a bulk run does not depend on the
 * client staying open. 0, or -1 when memory ran out. */
static int config_clone(gt_config *dst, const gt_config *src) {
  int failed = 0;
  size_t i;
  *dst = *src;
  dst->base_url = copy_string(src->base_url, &failed);
  dst->login_url = copy_string(src->login_url, &failed);
  dst->user_agent = copy_string(src->user_agent, &failed);
  dst->ca_file = copy_string(src->ca_file, &failed);
  dst->proxy = copy_string(src->proxy, &failed);
  dst->no_proxy = copy_string(src->no_proxy, &failed);
  dst->headers = NULL;
  dst->header_count = 0;
  if (src->header_count) {
    dst->headers = calloc(src->header_count, sizeof *dst->headers);
    if (dst->headers == NULL)
      return -1;
    for (i = 0; i < src->header_count; i++, dst->header_count++)
      dst->headers[i] = copy_string(src->headers[i], &failed);
  }
  return failed ? -1 : 0;
}

void gt_client_free(gt_client *c) {
  if (c == NULL)
    return;
  gt_transfer_cleanup(&c->single);
  gt_buffer_free(&c->last.url);
  config_free(&c->config);
  free(c);
}

gt_client *gt_client_new(const gt_options *o, char *err, size_t err_size) {
  gt_client *c;

  if (o->base_url == NULL || o->base_url[0] == '\0') {
    snprintf(err, err_size, "base_url is required");
    return NULL;
  }
  c = calloc(1, sizeof *c);
  if (c == NULL) {
    snprintf(err, err_size, "not enough memory");
    return NULL;
  }
  if (config_copy(&c->config, o) != 0) {
    snprintf(err, err_size, "not enough memory");
    gt_client_free(c);
    return NULL;
  }
  gt_buffer_init(&c->last.url, (size_t)-1);
  if (gt_transfer_init(&c->single, &c->config) != 0) {
    snprintf(err, err_size, "libcurl could not create a handle");
    gt_client_free(c);
    return NULL;
  }
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
  case GT_FAIL_INTERRUPTED: return "interrupted";
  case GT_FAIL_NOMEM: return "memory";
  }
  return "network";
}

static gt_outcome buffer_failed(gt_result *res, int rc, const char *what) {
  if (rc == GT_BUFFER_TOO_LARGE) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s is too long", what);
    return gt_result_fail(res, GT_FAIL_ARGUMENT, "invalid_argument", msg);
  }
  return gt_result_fail(res, GT_FAIL_NOMEM, "CURLE_OUT_OF_MEMORY", "not enough memory");
}

/* Sets transfer t up for a call with a bearer token to base_url + path
 * (+ an escaped segment). GT_DONE when it is ready to perform. */
static gt_outcome prepare_bearer(const gt_config *c, gt_transfer *t, const char *method,
                                 const char *path, const char *segment, size_t segment_len,
                                 const char *token, size_t token_len,
                                 const char *body, size_t body_len, gt_result *res) {
  const char *problem = gt_token_problem(token, token_len);
  gt_request rq;
  int rc;

  if (problem)
    return gt_result_fail(res, GT_FAIL_ARGUMENT, "invalid_argument", problem);
  if (segment) {
    problem = gt_user_id_problem(segment, segment_len);
    if (problem)
      return gt_result_fail(res, GT_FAIL_ARGUMENT, "invalid_argument", problem);
  }
  gt_buffer_clear(&t->url);
  rc = gt_buffer_puts(&t->url, c->base_url);
  if (rc == GT_BUFFER_OK)
    rc = gt_buffer_puts(&t->url, path);
  if (rc == GT_BUFFER_OK && segment)
    rc = gt_append_segment(&t->url, segment, segment_len);
  if (rc != GT_BUFFER_OK)
    return buffer_failed(res, rc, "request URL");

  rq.method = method;
  rq.auth_scheme = "Bearer ";
  rq.auth_value = token;
  rq.auth_len = token_len;
  rq.body = body;
  rq.body_len = body_len;
  rq.content_type = body ? "application/json" : NULL;
  return gt_transfer_prepare(t, &rq, res);
}

/* Performs the prepared request; a response to an API call (not to a
 * login) becomes the last response. */
static gt_outcome perform(gt_client *c, int is_api_call, gt_result *res) {
  CURLcode rc = curl_easy_perform(c->single.easy);
  if (gt_transfer_finish(&c->single, rc, res) == GT_DONE && is_api_call) {
    gt_last *last = &c->last;
    last->status = res->status;
    last->method = res->method;
    last->meta = res->meta;
    gt_buffer_clear(&last->url);
    if (gt_buffer_puts(&last->url, res->url) != GT_BUFFER_OK)
      gt_buffer_clear(&last->url); /* out of memory: the URL is left out */
  }
  return res->outcome;
}

int gt_last_response(const gt_client *c, gt_result *res) {
  gt_result_init(res);
  if (c->last.status == 0)
    return 0;
  res->outcome = GT_DONE;
  res->status = c->last.status;
  res->method = c->last.method;
  res->url = c->last.url.data ? c->last.url.data : "";
  res->meta = c->last.meta;
  return 1;
}

static gt_outcome bearer_call(gt_client *c, const char *method, const char *path,
                              const char *segment, size_t segment_len,
                              const char *token, size_t token_len,
                              const char *body, size_t body_len, gt_result *res) {
  gt_result_init(res);
  if (prepare_bearer(&c->config, &c->single, method, path, segment, segment_len, token,
                     token_len, body, body_len, res) != GT_DONE)
    return res->outcome;
  return perform(c, 1, res);
}

gt_outcome gt_get_token_info(gt_client *c, const char *token, size_t token_len,
                             int preserve_idle_ttl, gt_result *res) {
  return bearer_call(c, "GET",
                     preserve_idle_ttl ? GT_API_TOKENS "me?preserveIdleTTL=true" : GT_API_TOKENS "me",
                     NULL, 0, token, token_len, NULL, 0, res);
}

gt_outcome gt_verify_token(gt_client *c, const char *token, size_t token_len, gt_result *res) {
  return bearer_call(c, "HEAD", GT_API_TOKENS "me", NULL, 0, token, token_len, NULL, 0, res);
}

gt_outcome gt_revoke_own_token(gt_client *c, const char *token, size_t token_len,
                               gt_result *res) {
  return bearer_call(c, "DELETE", GT_API_TOKENS "me", NULL, 0, token, token_len, NULL, 0, res);
}

gt_outcome gt_revoke_user_tokens(gt_client *c, const char *token, size_t token_len,
                                 const char *user_id, size_t user_id_len,
                                 gt_result *res) {
  return bearer_call(c, "DELETE", GT_API_TOKENS, user_id, user_id_len, token, token_len,
                     NULL, 0, res);
}

gt_outcome gt_get_idle_timeout(gt_client *c, const char *token, size_t token_len,
                               gt_result *res) {
  return bearer_call(c, "GET", GT_API_TOKENS "timeout", NULL, 0, token, token_len, NULL, 0, res);
}

gt_outcome gt_put_idle_timeout(gt_client *c, const char *token, size_t token_len,
                               const char *json, size_t json_len, gt_result *res) {
  return bearer_call(c, "PUT", GT_API_TOKENS "timeout", NULL, 0, token, token_len,
                     json, json_len, res);
}

gt_outcome gt_login_client_credentials(gt_client *c, const char *id, size_t id_len,
                                       const char *secret, size_t secret_len,
                                       gt_result *res) {
  static const char form[] = "grant_type=client_credentials";
  gt_transfer *t = &c->single;
  const char *problem;
  gt_buffer pair, auth;
  gt_request rq;
  int rc;

  gt_result_init(res);
  problem = gt_client_id_problem(id, id_len);
  if (problem == NULL)
    problem = gt_client_secret_problem(secret, secret_len);
  if (problem)
    return gt_result_fail(res, GT_FAIL_ARGUMENT, "invalid_argument", problem);
  gt_buffer_clear(&t->url);
  rc = gt_buffer_puts(&t->url, c->config.login_url);
  if (rc == GT_BUFFER_OK)
    rc = gt_buffer_puts(&t->url, "/oauth/token");
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
  /* A login is rare: its credential is not kept in a cached header list
   * (dropped right after the request). */
  if (pair.data)
    memset(pair.data, 0, pair.cap);
  gt_buffer_free(&pair);
  if (rc != GT_BUFFER_OK) {
    if (auth.data)
      memset(auth.data, 0, auth.cap);
    gt_buffer_free(&auth);
    return buffer_failed(res, rc, "client credentials");
  }
  rq.method = "POST";
  rq.auth_scheme = "Basic ";
  rq.auth_value = auth.data + 6; /* past "Basic " */
  rq.auth_len = auth.len - 6;
  rq.content_type = "application/x-www-form-urlencoded";
  rq.body = form;
  rq.body_len = sizeof form - 1;
  rc = gt_transfer_prepare(t, &rq, res);
  memset(auth.data, 0, auth.cap);
  gt_buffer_free(&auth);
  if (rc == GT_DONE)
    perform(c, 0, res);
  gt_transfer_forget_headers(t);
  return res->outcome;
}

/* ---------------------------------------------------------------- bulk */

struct gt_bulk {
  gt_config config;    /* a copy of the client's settings */
  CURLM *multi;        /* one connection cache for all slots */
  gt_transfer *slots;
  long *tags;          /* the caller's tag of each slot's transfer */
  int *busy;           /* a slot's transfer runs, or finished and is not yet released */
  int *finished;       /* slots whose transfer finished, in the order they did */
  gt_result *results;  /* what each finished slot's transfer gave */
  int slot_count;
  int in_flight;
  int finished_count;
};

void gt_bulk_free(gt_bulk *b) {
  int i;
  if (b == NULL)
    return;
  for (i = 0; b->slots && i < b->slot_count; i++) {
    if (b->busy && b->busy[i] && b->multi)
      curl_multi_remove_handle(b->multi, b->slots[i].easy);
    gt_transfer_cleanup(&b->slots[i]);
  }
  if (b->multi)
    curl_multi_cleanup(b->multi);
  config_free(&b->config);
  free(b->slots);
  free(b->tags);
  free(b->busy);
  free(b->finished);
  free(b->results);
  free(b);
}

gt_bulk *gt_bulk_new(const gt_client *c, int slots, char *err, size_t err_size) {
  gt_bulk *b;
  int i;

  if (slots < 1 || slots > GT_BULK_MAX_SLOTS) {
    snprintf(err, err_size, "concurrency must be from 1 to %d", GT_BULK_MAX_SLOTS);
    return NULL;
  }
  b = calloc(1, sizeof *b);
  if (b == NULL) {
    snprintf(err, err_size, "not enough memory");
    return NULL;
  }
  b->slots = calloc((size_t)slots, sizeof *b->slots);
  b->tags = calloc((size_t)slots, sizeof *b->tags);
  b->busy = calloc((size_t)slots, sizeof *b->busy);
  b->finished = calloc((size_t)slots, sizeof *b->finished);
  b->results = calloc((size_t)slots, sizeof *b->results);
  b->multi = curl_multi_init();
  if (config_clone(&b->config, &c->config) != 0 || b->slots == NULL || b->tags == NULL ||
      b->busy == NULL || b->finished == NULL || b->results == NULL || b->multi == NULL) {
    snprintf(err, err_size, "not enough memory");
    gt_bulk_free(b);
    return NULL;
  }
  /* The multi handle waits for sockets itself and wakes on a signal. */
  b->config.interrupted = NULL;
  b->slot_count = slots;
  for (i = 0; i < slots; i++) {
    if (gt_transfer_init(&b->slots[i], &b->config) != 0) {
      snprintf(err, err_size, "libcurl could not create a handle");
      gt_bulk_free(b);
      return NULL;
    }
  }
  /* Reuse connections across slots, and keep as many as there are slots. */
  curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS, (long)slots);
  return b;
}

int gt_bulk_in_flight(const gt_bulk *b) {
  return b->in_flight;
}

int gt_bulk_free_slots(const gt_bulk *b) {
  return b->slot_count - b->in_flight;
}

gt_outcome gt_bulk_start_revoke(gt_bulk *b, long tag, const char *token, size_t token_len,
                                const char *user_id, size_t user_id_len, gt_result *res) {
  int i;
  gt_result_init(res);
  for (i = 0; i < b->slot_count && b->busy[i]; i++) {
  }
  if (i == b->slot_count)
    return gt_result_fail(res, GT_FAIL_ARGUMENT, "invalid_argument", "no free slot");
  if (prepare_bearer(&b->config, &b->slots[i], "DELETE", GT_API_TOKENS, user_id,
                     user_id_len, token, token_len, NULL, 0, res) != GT_DONE)
    return res->outcome;
  if (curl_multi_add_handle(b->multi, b->slots[i].easy) != CURLM_OK) {
    gt_result_init(res);
    return gt_result_fail(res, GT_FAIL_NOMEM, "CURLE_OUT_OF_MEMORY", "libcurl refused the transfer");
  }
  b->busy[i] = 1;
  b->tags[i] = tag;
  b->in_flight++;
  return GT_DONE;
}

int gt_bulk_poll(gt_bulk *b, int timeout_ms) {
  int running = 0, queued = 0;
  CURLMsg *msg;

  if (curl_multi_perform(b->multi, &running) != CURLM_OK)
    return -1;
  if (running > 0 && timeout_ms > 0 && b->finished_count == 0) {
    if (curl_multi_poll(b->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
      return -1;
    if (curl_multi_perform(b->multi, &running) != CURLM_OK)
      return -1;
  }
  while ((msg = curl_multi_info_read(b->multi, &queued)) != NULL) {
    gt_transfer *t = NULL;
    int i;
    if (msg->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
    i = (int)(t - b->slots);
    gt_result_init(&b->results[i]);
    gt_transfer_finish(t, msg->data.result, &b->results[i]);
    curl_multi_remove_handle(b->multi, msg->easy_handle);
    b->finished[b->finished_count++] = i;
  }
  return b->finished_count;
}

long gt_bulk_finished(gt_bulk *b, int i, gt_result *res) {
  int slot = b->finished[i];
  *res = b->results[slot];
  return b->tags[slot];
}

void gt_bulk_release(gt_bulk *b) {
  int i;
  for (i = 0; i < b->finished_count; i++)
    b->busy[b->finished[i]] = 0;
  b->in_flight -= b->finished_count;
  b->finished_count = 0;
}
