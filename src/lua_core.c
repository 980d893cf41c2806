/* The Lua binding of the C core: `require "genesys.tokens.core"`.
 *
 * One userdata per client, created (with its __gc armed) before the C
 * client exists, so nothing leaks if anything after that raises. libcurl
 * runs to completion inside gt_* calls; only then does this file touch the
 * Lua stack, so no Lua error ever unwinds through libcurl. Written against
 * the API common to Lua 5.1-5.4 and LuaJIT, so no compat shim is needed. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "gt_client.h"
#include "gt_headers.h"
#include "gt_transfer.h"
#include "gt_url.h"

#define CLIENT_MT "genesys.tokens.core.client"

#if defined(__GNUC__)
#define GT_EXPORT __attribute__((visibility("default")))
#else
#define GT_EXPORT
#endif

/* A call's buffers belong to the C client while the call reads them into
 * Lua values, and any allocation there may run a finalizer that closes the
 * client (or calls it again). So a close during a call waits until the call
 * has read what it needs, and a call during a call is refused. */
typedef struct client_box {
  gt_client *client; /* NULL once closed */
  int in_call;
  int close_pending;
  lua_State *main;   /* during a call: the thread the interpreter's Ctrl-C hook goes to */
  lua_Hook hook;     /* that thread's hook when the call began */
} client_box;

/* Whether the interpreter was interrupted since the call began: lua.c (and
 * LuaJIT's) SIGINT handler sets a hook that raises "interrupted!" at the
 * next instruction, and a hook that appears during a transfer is that one.
 * The check reads the hook; it runs no Lua. */
static int was_interrupted(void *ud) {
  client_box *box = ud;
  return lua_gethook(box->main) != box->hook;
}

#if LUA_VERSION_NUM < 502
/* Its address keys the main thread in the registry (Lua 5.1, LuaJIT). */
static const char MAIN_THREAD_KEY = 0;
#endif

/* The main thread: where lua.c sets its hook. Lua 5.2+ keep it in the
 * registry; on 5.1 and LuaJIT it is the thread that first required this
 * module, if that was the main one (kept in the registry by luaopen, so it
 * outlives every call), else the calling thread (LuaJIT's hooks are global
 * anyway). Pushes nothing. */
static lua_State *main_thread(lua_State *L) {
  lua_State *main;
#if LUA_VERSION_NUM >= 502
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
#else
  lua_pushlightuserdata(L, (void *)&MAIN_THREAD_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
#endif
  main = lua_tothread(L, -1);
  lua_pop(L, 1);
  return main ? main : L;
}

static client_box *check_box(lua_State *L) {
  return (client_box *)luaL_checkudata(L, 1, CLIENT_MT);
}

/* The open client of argument 1, now in a call. */
static gt_client *begin_call(lua_State *L, client_box **out) {
  client_box *box = check_box(L);
  if (box->client == NULL)
    luaL_error(L, "attempt to use a closed genesys.tokens client");
  if (box->in_call)
    luaL_error(L, "genesys.tokens client is busy: called from a finalizer or hook during one of its calls");
  box->in_call = 1;
  box->main = main_thread(L);
  box->hook = lua_gethook(box->main);
  *out = box;
  return box->client;
}

/* What a call pushes once its C part is done, run in protected mode. */
typedef struct push_job {
  int (*push)(lua_State *L, void *arg);
  void *arg;
} push_job;

static int run_push_job(lua_State *L) {
  push_job *job = (push_job *)lua_touserdata(L, 1);
  return job->push(L, job->arg);
}

/* Runs job (one result) in protected mode: the function is upvalue 1 of
 * every method, so starting it allocates nothing that could fail outside
 * the protection. 0, or the status with the error on top. */
static int push_protected(lua_State *L, push_job *job) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushlightuserdata(L, job);
  return lua_pcall(L, 1, 1, 0);
}

/* Ends a call: its result pushed (or its error raised), then a close that
 * came meanwhile done. */
static int end_call(lua_State *L, client_box *box, push_job *job) {
  int status = push_protected(L, job);
  box->in_call = 0;
  if (box->close_pending) {
    gt_client_free(box->client);
    box->client = NULL;
    box->close_pending = 0;
  }
  if (status != 0)
    return lua_error(L);
  return 1;
}

/* An optional string field of the options table; NULL when absent. The
 * pointer stays valid while the options table (argument 1) holds it. */
static const char *opt_string(lua_State *L, const char *name) {
  const char *s = NULL;
  lua_getfield(L, 1, name);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "option '%s' must be a string", name);
    s = lua_tostring(L, -1);
  }
  lua_pop(L, 1);
  return s;
}

static lua_Number opt_number(lua_State *L, const char *name, lua_Number dflt,
                             lua_Number max) {
  lua_Number v = dflt;
  lua_getfield(L, 1, name);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "option '%s' must be a number", name);
    v = lua_tonumber(L, -1);
    if (!(v >= 0 && v <= max)) /* also refuses NaN */
      luaL_error(L, "option '%s' is out of range", name);
  }
  lua_pop(L, 1);
  return v;
}

/* core.new{ base_url=, user_agent=, ca_file=, proxy=, timeout_ms=,
 *           connect_timeout_ms=, max_body=, headers={ "Name: value", ... } } */
static int core_new(lua_State *L) {
  gt_options o;
  client_box *box;
  const char **lines = NULL;
  char err[128];
  size_t n = 0;

  luaL_checktype(L, 1, LUA_TTABLE);
  memset(&o, 0, sizeof o);
  o.base_url = opt_string(L, "base_url");
  if (o.base_url == NULL)
    luaL_error(L, "option 'base_url' is required");
  o.login_url = opt_string(L, "login_url");
  o.no_proxy = opt_string(L, "no_proxy");
  o.user_agent = opt_string(L, "user_agent");
  o.ca_file = opt_string(L, "ca_file");
  o.proxy = opt_string(L, "proxy");
  o.timeout_ms = (long)opt_number(L, "timeout_ms", 0, 86400000.0);
  o.connect_timeout_ms = (long)opt_number(L, "connect_timeout_ms", 0, 86400000.0);
  o.max_body = (size_t)opt_number(L, "max_body", 1024 * 1024, 1024.0 * 1024 * 1024);

  lua_getfield(L, 1, "headers");
  if (!lua_isnil(L, -1)) {
    luaL_checktype(L, -1, LUA_TTABLE);
    while (n < 1000) { /* count the sequence, bounded */
      lua_rawgeti(L, -1, (int)n + 1);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "option 'headers' must hold strings");
      lua_pop(L, 1);
      n++;
    }
    /* A userdata as scratch space: collected even if we raise below. */
    lines = (const char **)lua_newuserdata(L, (n ? n : 1) * sizeof *lines);
    for (o.header_count = 0; o.header_count < n; o.header_count++) {
      lua_rawgeti(L, -2, (int)o.header_count + 1);
      lines[o.header_count] = lua_tostring(L, -1);
      lua_pop(L, 1); /* still referenced by the headers table */
    }
    o.headers = lines;
  }

  box = (client_box *)lua_newuserdata(L, sizeof *box);
  memset(box, 0, sizeof *box);
  luaL_getmetatable(L, CLIENT_MT);
  lua_setmetatable(L, -2);
  o.interrupted = was_interrupted;
  o.interrupt_ud = box;
  box->client = gt_client_new(&o, err, sizeof err);
  if (box->client == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

static void set_integer(lua_State *L, const char *name, long long v) {
  if (v >= 0) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, name);
  }
}

/* A Retry-After's seconds: delta-seconds, or an HTTP-date from now; -1. */
static long long retry_after_of(const gt_meta *m) {
  if (m->retry_after >= 0 || m->retry_after_raw[0] == '\0')
    return m->retry_after;
  return gt_http_date_delay(m->retry_after_raw);
}

/* Every call returns one table: method, url, and either the response
 * (status, body, correlation_id, retry_after, ratelimit_*) or the failure
 * (kind, code, message). A bad argument raises instead, and so does a lack
 * of memory of our own. */
static int push_result(lua_State *L, void *arg) {
  const gt_result *res = arg;
  if (res->outcome == GT_FAIL_ARGUMENT)
    return luaL_error(L, "%s", res->message);
  if (res->outcome == GT_FAIL_NOMEM)
    return luaL_error(L, "not enough memory");
  lua_createtable(L, 0, 10);
  lua_pushstring(L, res->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, res->url);
  lua_setfield(L, -2, "url");
  if (res->meta.correlation_id[0]) {
    lua_pushstring(L, res->meta.correlation_id);
    lua_setfield(L, -2, "correlation_id");
  }
  if (res->outcome != GT_DONE) {
    lua_pushstring(L, gt_outcome_kind(res->outcome));
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, res->code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, res->message);
    lua_setfield(L, -2, "message");
    return 1;
  }
  lua_pushinteger(L, (lua_Integer)res->status);
  lua_setfield(L, -2, "status");
  if (res->body) {
    lua_pushlstring(L, res->body, res->body_len);
    lua_setfield(L, -2, "body");
  }
  if (res->meta.retry_after_raw[0]) {
    lua_pushstring(L, res->meta.retry_after_raw);
    lua_setfield(L, -2, "retry_after_raw");
  }
  set_integer(L, "retry_after", retry_after_of(&res->meta));
  set_integer(L, "ratelimit_count", res->meta.ratelimit_count);
  set_integer(L, "ratelimit_allowed", res->meta.ratelimit_allowed);
  set_integer(L, "ratelimit_reset", res->meta.ratelimit_reset);
  return 1;
}

static int finish_call(lua_State *L, client_box *box, gt_result *res) {
  push_job job;
  job.push = push_result;
  job.arg = res;
  return end_call(L, box, &job);
}

/* client:me(token, preserve_idle_ttl) -> GET /api/v2/tokens/me */
static int client_me(lua_State *L) {
  client_box *box;
  size_t token_len;
  const char *token = luaL_checklstring(L, 2, &token_len);
  gt_client *c = begin_call(L, &box);
  gt_result res;
  gt_get_token_info(c, token, token_len, lua_toboolean(L, 3), &res);
  return finish_call(L, box, &res);
}

/* client:last_response() -> the result table of the last response to an
 * API call (no body), or nil before the first. */
static int client_last_response(lua_State *L) {
  client_box *box;
  gt_result res;
  if (!gt_last_response(begin_call(L, &box), &res)) {
    box->in_call = 0;
    return 0;
  }
  res.body = NULL;
  return finish_call(L, box, &res);
}

/* The calls that take just a token. */
typedef gt_outcome (*token_call_fn)(gt_client *, const char *, size_t, gt_result *);

static int token_call(lua_State *L, token_call_fn call) {
  client_box *box;
  size_t token_len;
  const char *token = luaL_checklstring(L, 2, &token_len);
  gt_client *c = begin_call(L, &box);
  gt_result res;
  call(c, token, token_len, &res);
  return finish_call(L, box, &res);
}

/* client:verify(token) -> HEAD /api/v2/tokens/me */
static int client_verify(lua_State *L) { return token_call(L, gt_verify_token); }

/* client:revoke_me(token) -> DELETE /api/v2/tokens/me */
static int client_revoke_me(lua_State *L) { return token_call(L, gt_revoke_own_token); }

/* client:idle_timeout(token) -> GET /api/v2/tokens/timeout */
static int client_idle_timeout(lua_State *L) { return token_call(L, gt_get_idle_timeout); }

/* client:revoke(token, user_id) -> DELETE /api/v2/tokens/{userId} */
static int client_revoke(lua_State *L) {
  client_box *box;
  size_t token_len, id_len;
  const char *token = luaL_checklstring(L, 2, &token_len);
  const char *id;
  gt_client *c;
  gt_result res;
  luaL_checktype(L, 3, LUA_TSTRING); /* a number is not a user id */
  id = lua_tolstring(L, 3, &id_len);
  c = begin_call(L, &box);
  gt_revoke_user_tokens(c, token, token_len, id, id_len, &res);
  return finish_call(L, box, &res);
}

/* client:set_idle_timeout(token, json) -> PUT /api/v2/tokens/timeout */
static int client_set_idle_timeout(lua_State *L) {
  client_box *box;
  size_t token_len, json_len;
  const char *token = luaL_checklstring(L, 2, &token_len);
  const char *json = luaL_checklstring(L, 3, &json_len);
  gt_client *c = begin_call(L, &box);
  gt_result res;
  gt_put_idle_timeout(c, token, token_len, json, json_len, &res);
  return finish_call(L, box, &res);
}

/* client:login(client_id, client_secret) -> POST <login_url>/oauth/token */
static int client_login(lua_State *L) {
  client_box *box;
  size_t id_len, secret_len;
  const char *id = luaL_checklstring(L, 2, &id_len);
  const char *secret = luaL_checklstring(L, 3, &secret_len);
  gt_client *c = begin_call(L, &box);
  gt_result res;
  gt_login_client_credentials(c, id, id_len, secret, secret_len, &res);
  return finish_call(L, box, &res);
}

/* ---------------------------------------------------------------- bulk */

#define BULK_MT "genesys.tokens.core.bulk"

/* As client_box: a close during a poll or start waits until it returns. */
typedef struct bulk_box {
  gt_bulk *bulk; /* NULL once closed */
  int in_call;
  int close_pending;
} bulk_box;

static gt_bulk *begin_bulk_call(lua_State *L, bulk_box **out) {
  bulk_box *box = (bulk_box *)luaL_checkudata(L, 1, BULK_MT);
  if (box->bulk == NULL)
    luaL_error(L, "attempt to use a closed bulk run");
  if (box->in_call)
    luaL_error(L, "bulk run is busy: called from a finalizer or hook during one of its calls");
  box->in_call = 1;
  *out = box;
  return box->bulk;
}

/* Ends a bulk call whose push gave `status` (0, or an error on top). */
static int close_bulk_call(lua_State *L, bulk_box *box, int status) {
  box->in_call = 0;
  if (box->close_pending) {
    gt_bulk_free(box->bulk);
    box->bulk = NULL;
    box->close_pending = 0;
  }
  if (status != 0)
    return lua_error(L);
  return 1;
}

static int end_bulk_call(lua_State *L, bulk_box *box, push_job *job) {
  return close_bulk_call(L, box, push_protected(L, job));
}

static gt_bulk *check_bulk(lua_State *L) {
  bulk_box *box = (bulk_box *)luaL_checkudata(L, 1, BULK_MT);
  if (box->bulk == NULL)
    luaL_error(L, "attempt to use a closed bulk run");
  return box->bulk;
}

/* client:bulk(concurrency) -> a bulk run with that many slots. */
static int client_bulk(lua_State *L) {
  client_box *cbox = check_box(L);
  lua_Number n = luaL_checknumber(L, 2);
  bulk_box *box;
  char err[128];
  if (!(n >= 1 && n <= GT_BULK_MAX_SLOTS) || n != (lua_Number)(int)n)
    return luaL_argerror(L, 2, "concurrency must be a whole number from 1 to 256");
  box = (bulk_box *)lua_newuserdata(L, sizeof *box);
  memset(box, 0, sizeof *box);
  luaL_getmetatable(L, BULK_MT);
  lua_setmetatable(L, -2);
  /* Checked after the allocation, which may have run a finalizer that
   * closed the client. */
  if (cbox->client == NULL || cbox->close_pending)
    return luaL_error(L, "attempt to use a closed genesys.tokens client");
  box->bulk = gt_bulk_new(cbox->client, (int)n, err, sizeof err);
  if (box->bulk == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

static int push_true(lua_State *L, void *arg) {
  (void)arg;
  lua_pushboolean(L, 1);
  return 1;
}

/* bulk:start(tag, token, user_id) -> true, or the failure's result table
 * (a bad id or token raises). */
static int bulk_start(lua_State *L) {
  bulk_box *box;
  long tag = (long)luaL_checkinteger(L, 2);
  size_t token_len, id_len;
  const char *token = luaL_checklstring(L, 3, &token_len);
  const char *id;
  gt_bulk *b;
  gt_result res;
  push_job job;
  luaL_checktype(L, 4, LUA_TSTRING);
  id = lua_tolstring(L, 4, &id_len);
  if (gt_bulk_free_slots(check_bulk(L)) == 0)
    return luaL_error(L, "no free slot: poll until one finishes");
  b = begin_bulk_call(L, &box);
  job.push = push_true;
  job.arg = NULL;
  if (gt_bulk_start_revoke(b, tag, token, token_len, id, id_len, &res) != GT_DONE) {
    job.push = push_result;
    job.arg = &res;
  }
  return end_bulk_call(L, box, &job);
}

typedef struct finished_list {
  gt_bulk *bulk;
  int n;
} finished_list;

/* { {tag, result}, ... } of the finished transfers. */
static int push_finished(lua_State *L, void *arg) {
  finished_list *list = arg;
  gt_bulk *b = list->bulk;
  int i, n = list->n;
  luaL_checkstack(L, 8, NULL);
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    gt_result res;
    long tag = gt_bulk_finished(b, i, &res);
    lua_createtable(L, 2, 0);
    lua_pushinteger(L, (lua_Integer)tag);
    lua_rawseti(L, -2, 1);
    push_result(L, &res);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, i + 1);
  }
  return 1; /* bulk_poll releases them once the push has returned */
}

/* bulk:poll(timeout_seconds) -> { {tag, result}, ... } of what finished,
 * waiting at most timeout_seconds (up to 60) for something to. */
static int bulk_poll(lua_State *L) {
  bulk_box *box;
  lua_Number timeout = luaL_optnumber(L, 2, 0);
  gt_bulk *b = begin_bulk_call(L, &box);
  finished_list list;
  push_job job;
  int ms = 0, status;
  if (timeout > 60) /* clamped before the conversion: 1e300 has no int */
    timeout = 60;
  if (timeout > 0)
    ms = (int)(timeout * 1000 + 0.5);
  list.bulk = b;
  list.n = gt_bulk_poll(b, ms);
  if (list.n < 0) {
    box->in_call = 0;
    return luaL_error(L, "libcurl's multi interface failed");
  }
  job.push = push_finished;
  job.arg = &list;
  /* The results are released only when the whole list has come back from
   * the protected push: a finalizer can raise even as the push returns
   * (Lua 5.1 steps the collector there), and then the next poll gives
   * them again instead of losing them. */
  status = push_protected(L, &job);
  if (status == 0)
    gt_bulk_release(b);
  return close_bulk_call(L, box, status);
}

static int bulk_in_flight(lua_State *L) {
  lua_pushinteger(L, gt_bulk_in_flight(check_bulk(L)));
  return 1;
}

static int bulk_free_slots(lua_State *L) {
  lua_pushinteger(L, gt_bulk_free_slots(check_bulk(L)));
  return 1;
}

/* close(): aborts what is in flight; idempotent; waits for a call. */
static int bulk_close(lua_State *L) {
  bulk_box *box = (bulk_box *)luaL_checkudata(L, 1, BULK_MT);
  if (box->in_call) {
    box->close_pending = 1;
    return 0;
  }
  gt_bulk_free(box->bulk);
  box->bulk = NULL;
  return 0;
}

/* __gc: an unreachable run has no call in progress. */
static int bulk_gc(lua_State *L) {
  bulk_box *box = (bulk_box *)luaL_checkudata(L, 1, BULK_MT);
  gt_bulk_free(box->bulk);
  box->bulk = NULL;
  return 0;
}

/* close() and __close: idempotent; during a call, done when it returns. */
static int client_close(lua_State *L) {
  client_box *box = check_box(L);
  if (box->in_call) {
    box->close_pending = 1;
    return 0;
  }
  gt_client_free(box->client);
  box->client = NULL;
  return 0;
}

/* __gc: an unreachable client has no call in progress. */
static int client_gc(lua_State *L) {
  client_box *box = check_box(L);
  gt_client_free(box->client);
  box->client = NULL;
  return 0;
}

static int client_closed(lua_State *L) {
  client_box *box = check_box(L);
  lua_pushboolean(L, box->client == NULL || box->close_pending);
  return 1;
}

static int client_tostring(lua_State *L) {
  client_box *box = check_box(L);
  if (box->client)
    lua_pushfstring(L, "genesys.tokens.core.client: %p", (void *)box);
  else
    lua_pushstring(L, "genesys.tokens.core.client (closed)");
  return 1;
}

/* core.user_id_problem(id) / core.token_problem(token): nil when the value
 * may be sent, else the reason. The Lua layer raises with it at its
 * caller, so the rules live in one place: gt_url.c. */
static int core_user_id_problem(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *problem = gt_user_id_problem(s, len);
  if (problem)
    lua_pushstring(L, problem);
  else
    lua_pushnil(L);
  return 1;
}

static int core_token_problem(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *problem = gt_token_problem(s, len);
  if (problem)
    lua_pushstring(L, problem);
  else
    lua_pushnil(L);
  return 1;
}

/* core.credentials_problem(client_id, client_secret) */
static int core_credentials_problem(lua_State *L) {
  size_t id_len, secret_len;
  const char *id = luaL_checklstring(L, 1, &id_len);
  const char *secret = luaL_checklstring(L, 2, &secret_len);
  const char *problem = gt_client_id_problem(id, id_len);
  if (problem == NULL)
    problem = gt_client_secret_problem(secret, secret_len);
  if (problem)
    lua_pushstring(L, problem);
  else
    lua_pushnil(L);
  return 1;
}

/* core.escape_segment(s) and core.base64(s): the encodings of gt_url.c, for
 * the cosocket transport, so both transports build identical requests. */
static int push_encoded(lua_State *L, int (*encode)(gt_buffer *, const char *, size_t)) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  gt_buffer b;
  int rc;
  gt_buffer_init(&b, (size_t)-1);
  rc = encode(&b, s, len);
  if (rc == GT_BUFFER_OK)
    lua_pushlstring(L, b.data ? b.data : "", b.len);
  gt_buffer_free(&b); /* freed before any raise */
  if (rc != GT_BUFFER_OK)
    return luaL_error(L, "not enough memory");
  return 1;
}

static int core_escape_segment(lua_State *L) { return push_encoded(L, gt_append_segment); }
static int core_base64(lua_State *L) { return push_encoded(L, gt_append_base64); }

/* core.now(): seconds on a monotonic clock, for durations and deadlines. */
static int core_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* core.sleep(seconds) -> the seconds still to wait: 0, or more when a
 * signal ended the wait early (so that Lua's Ctrl-C hook runs at once; the
 * caller waits the rest). */
static int core_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  struct timespec ts, left;
  if (!(s > 0)) {
    lua_pushinteger(L, 0);
    return 1;
  }
  if (s > 86400)
    s = 86400;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
  if (nanosleep(&ts, &left) != 0 && errno == EINTR)
    lua_pushnumber(L, (lua_Number)left.tv_sec + (lua_Number)left.tv_nsec / 1e9);
  else
    lua_pushinteger(L, 0);
  return 1;
}

static void push_count(lua_State *L, long long v) {
  if (v < 0)
    lua_pushnil(L);
  else
    lua_pushinteger(L, (lua_Integer)v);
}

/* core.header(line) -> what a response header line tells, read as the
 * core reads libcurl's (so both transports keep the same): "correlation_id",
 * text | "retry_after", seconds, as sent | "content_length", n |
 * "ratelimit_count" (_allowed, _reset), n; a value nil when it is not
 * valid. Nothing for the lines the core does not keep. */
static int core_header(lua_State *L) {
  size_t len;
  const char *line = luaL_checklstring(L, 1, &len);
  gt_meta m;
  gt_meta_clear(&m);
  switch (gt_meta_feed(&m, line, len)) {
  case GT_FIELD_CORRELATION_ID:
    lua_pushliteral(L, "correlation_id");
    if (m.correlation_id[0])
      lua_pushstring(L, m.correlation_id);
    else
      lua_pushnil(L);
    return 2;
  case GT_FIELD_RETRY_AFTER:
    lua_pushliteral(L, "retry_after");
    push_count(L, retry_after_of(&m));
    if (m.retry_after_raw[0])
      lua_pushstring(L, m.retry_after_raw);
    else
      lua_pushnil(L);
    return 3;
  case GT_FIELD_CONTENT_LENGTH:
    lua_pushliteral(L, "content_length");
    push_count(L, m.content_length);
    return 2;
  case GT_FIELD_RATELIMIT_COUNT:
    lua_pushliteral(L, "ratelimit_count");
    push_count(L, m.ratelimit_count);
    return 2;
  case GT_FIELD_RATELIMIT_ALLOWED:
    lua_pushliteral(L, "ratelimit_allowed");
    push_count(L, m.ratelimit_allowed);
    return 2;
  case GT_FIELD_RATELIMIT_RESET:
    lua_pushliteral(L, "ratelimit_reset");
    push_count(L, m.ratelimit_reset);
    return 2;
  case GT_FIELD_STATUS_LINE:
  case GT_FIELD_NONE:
    break;
  }
  return 0;
}

/* Sets the functions into the table on top; with `upvalue`, each gets a
 * copy of the value at that index as upvalue 1. */
static void set_functions(lua_State *L, const luaL_Reg *f, int upvalue) {
  for (; f->name; f++) {
    if (upvalue) {
      lua_pushvalue(L, upvalue);
      lua_pushcclosure(L, f->func, 1);
    } else {
      lua_pushcfunction(L, f->func);
    }
    lua_setfield(L, -2, f->name);
  }
}

GT_EXPORT int luaopen_genesys_tokens_core(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"me", client_me},
    {"verify", client_verify},
    {"revoke_me", client_revoke_me},
    {"revoke", client_revoke},
    {"idle_timeout", client_idle_timeout},
    {"set_idle_timeout", client_set_idle_timeout},
    {"login", client_login},
    {"last_response", client_last_response},
    {"bulk", client_bulk},
    {"close", client_close},
    {"closed", client_closed},
    {NULL, NULL}
  };
  static const luaL_Reg module[] = {
    {"new", core_new},
    {"user_id_problem", core_user_id_problem},
    {"token_problem", core_token_problem},
    {"credentials_problem", core_credentials_problem},
    {"escape_segment", core_escape_segment},
    {"base64", core_base64},
    {"header", core_header},
    {"now", core_now},
    {"sleep", core_sleep},
    {NULL, NULL}
  };
  char agent[96];
  int pusher;

  if (gt_global_init() != 0)
    return luaL_error(L, "libcurl initialisation failed");
#if LUA_VERSION_NUM < 502
  lua_pushlightuserdata(L, (void *)&MAIN_THREAD_KEY);
  if (lua_pushthread(L)) /* 1: this is the main thread */
    lua_rawset(L, LUA_REGISTRYINDEX);
  else
    lua_pop(L, 2);
#endif
  lua_pushcfunction(L, run_push_job);
  pusher = lua_gettop(L);

  luaL_newmetatable(L, CLIENT_MT);
  lua_newtable(L);
  set_functions(L, methods, pusher);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, client_gc);
  lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
  lua_pushcfunction(L, client_close);
  lua_setfield(L, -2, "__close");
#endif
  lua_pushcfunction(L, client_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "genesys.tokens.core.client");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);

  {
    static const luaL_Reg bulk_methods[] = {
      {"start", bulk_start},
      {"poll", bulk_poll},
      {"in_flight", bulk_in_flight},
      {"free_slots", bulk_free_slots},
      {"close", bulk_close},
      {NULL, NULL}
    };
    luaL_newmetatable(L, BULK_MT);
    lua_newtable(L);
    set_functions(L, bulk_methods, pusher);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, bulk_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
  }

  lua_newtable(L);
  set_functions(L, module, 0);
  lua_pushliteral(L, GT_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lua_pushinteger(L, GT_HEADER_BLOCK_MAX);
  lua_setfield(L, -2, "header_block_max");
  gt_library_agent(agent, sizeof agent);
  lua_pushstring(L, agent);
  lua_setfield(L, -2, "user_agent");
  return 1;
}
