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
#include "gt_url.h"
#include "lua_json.h"

#define CLIENT_MT "genesys.tokens.core.client"

#if defined(__GNUC__)
#define GT_EXPORT __attribute__((visibility("default")))
#else
#define GT_EXPORT
#endif

typedef struct client_box {
  gt_client *client; /* NULL once closed */
} client_box;

static client_box *check_box(lua_State *L) {
  return (client_box *)luaL_checkudata(L, 1, CLIENT_MT);
}

static gt_client *check_open(lua_State *L) {
  client_box *box = check_box(L);
  if (box->client == NULL)
    luaL_error(L, "attempt to use a closed genesys.tokens client");
  return box->client;
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
  box->client = NULL;
  luaL_getmetatable(L, CLIENT_MT);
  lua_setmetatable(L, -2);
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

/* Every call returns one table: method, url, and either the response
 * (status, body, correlation_id, retry_after, ratelimit_*) or the failure
 * (kind, code, message). A bad argument raises instead. `with_body` 0
 * leaves the body out (last_response, an undecodable body). */
static int push_result(lua_State *L, const gt_result *res, int with_body) {
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
  if (with_body) {
    lua_pushlstring(L, res->body, res->body_len);
    lua_setfield(L, -2, "body");
  }
  if (res->meta.retry_after_raw[0]) {
    lua_pushstring(L, res->meta.retry_after_raw);
    lua_setfield(L, -2, "retry_after_raw");
  }
  set_integer(L, "retry_after", res->meta.retry_after);
  set_integer(L, "ratelimit_count", res->meta.ratelimit_count);
  set_integer(L, "ratelimit_allowed", res->meta.ratelimit_allowed);
  set_integer(L, "ratelimit_reset", res->meta.ratelimit_reset);
  return 1;
}

/* client:me(token, preserve_idle_ttl, decode) -> GET /api/v2/tokens/me.
 * With `decode`, a 2xx body is decoded straight from the client's buffer
 * (no Lua string of it is made) and the call returns the table and the
 * status, and nothing else: the rest is client:last_response()'s. A body
 * that does not decode gives the result table with `decode_error` and no
 * `body`. */
static int client_me(lua_State *L) {
  gt_client *c = check_open(L);
  size_t token_len;
  const char *token = luaL_checklstring(L, 2, &token_len);
  int preserve = lua_toboolean(L, 3);
  int decode = lua_toboolean(L, 4);
  gt_result res;
  gt_get_token_info(c, token, token_len, preserve, &res);
  if (!decode || res.outcome != GT_DONE || res.status < 200 || res.status > 299)
    return push_result(L, &res, 1);
  if (gt_json_decode_object(L, res.body, res.body_len, 1) == 1) {
    lua_pushinteger(L, (lua_Integer)res.status);
    return 2;
  }
  push_result(L, &res, 0); /* above nil and the decoder's message */
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "decode_error");
  return 1;
}

/* client:last_response() -> the result table of the last response to an
 * API call (no body), or nil before the first. */
static int client_last_response(lua_State *L) {
  gt_result res;
  if (!gt_last_response(check_open(L), &res))
    return 0;
  return push_result(L, &res, 0);
}

/* The calls that take just a token. */
typedef gt_outcome (*token_call_fn)(gt_client *, const char *, size_t, gt_result *);

static int token_call(lua_State *L, token_call_fn call) {
  gt_client *c = check_open(L);
  size_t token_len;
  const char *token = luaL_checklstring(L, 2, &token_len);
  gt_result res;
  call(c, token, token_len, &res);
  return push_result(L, &res, 1);
}

/* client:verify(token) -> HEAD /api/v2/tokens/me */
static int client_verify(lua_State *L) { return token_call(L, gt_verify_token); }

/* client:revoke_me(token) -> DELETE /api/v2/tokens/me */
static int client_revoke_me(lua_State *L) { return token_call(L, gt_revoke_own_token); }

/* client:idle_timeout(token) -> GET /api/v2/tokens/timeout */
static int client_idle_timeout(lua_State *L) { return token_call(L, gt_get_idle_timeout); }

/* client:revoke(token, user_id) -> DELETE /api/v2/tokens/{userId} */
static int client_revoke(lua_State *L) {
  gt_client *c = check_open(L);
  size_t token_len, id_len;
  const char *token = luaL_checklstring(L, 2, &token_len);
  const char *id;
  gt_result res;
  luaL_checktype(L, 3, LUA_TSTRING); /* a number is not a user id */
  id = lua_tolstring(L, 3, &id_len);
  gt_revoke_user_tokens(c, token, token_len, id, id_len, &res);
  return push_result(L, &res, 1);
}

/* client:set_idle_timeout(token, json) -> PUT /api/v2/tokens/timeout */
static int client_set_idle_timeout(lua_State *L) {
  gt_client *c = check_open(L);
  size_t token_len, json_len;
  const char *token = luaL_checklstring(L, 2, &token_len);
  const char *json = luaL_checklstring(L, 3, &json_len);
  gt_result res;
  gt_put_idle_timeout(c, token, token_len, json, json_len, &res);
  return push_result(L, &res, 1);
}

/* client:login(client_id, client_secret) -> POST <login_url>/oauth/token */
static int client_login(lua_State *L) {
  gt_client *c = check_open(L);
  size_t id_len, secret_len;
  const char *id = luaL_checklstring(L, 2, &id_len);
  const char *secret = luaL_checklstring(L, 3, &secret_len);
  gt_result res;
  gt_login_client_credentials(c, id, id_len, secret, secret_len, &res);
  return push_result(L, &res, 1);
}

/* ---------------------------------------------------------------- bulk */

#define BULK_MT "genesys.tokens.core.bulk"

typedef struct bulk_box {
  gt_bulk *bulk; /* NULL once closed */
} bulk_box;

static gt_bulk *check_bulk(lua_State *L) {
  bulk_box *box = (bulk_box *)luaL_checkudata(L, 1, BULK_MT);
  if (box->bulk == NULL)
    luaL_error(L, "attempt to use a closed bulk run");
  return box->bulk;
}

/* client:bulk(concurrency) -> a bulk run with that many slots. */
static int client_bulk(lua_State *L) {
  gt_client *c = check_open(L);
  lua_Number n = luaL_checknumber(L, 2);
  bulk_box *box;
  char err[128];
  if (!(n >= 1 && n <= GT_BULK_MAX_SLOTS) || n != (lua_Number)(int)n)
    return luaL_argerror(L, 2, "concurrency must be a whole number from 1 to 256");
  box = (bulk_box *)lua_newuserdata(L, sizeof *box);
  box->bulk = NULL;
  luaL_getmetatable(L, BULK_MT);
  lua_setmetatable(L, -2);
  box->bulk = gt_bulk_new(c, (int)n, err, sizeof err);
  if (box->bulk == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

/* bulk:start(tag, token, user_id) -> true, or the failure's result table
 * (no free slot: an argument error; a bad id or token raises). */
static int bulk_start(lua_State *L) {
  gt_bulk *b = check_bulk(L);
  long tag = (long)luaL_checkinteger(L, 2);
  size_t token_len, id_len;
  const char *token = luaL_checklstring(L, 3, &token_len);
  const char *id;
  gt_result res;
  luaL_checktype(L, 4, LUA_TSTRING);
  id = lua_tolstring(L, 4, &id_len);
  if (gt_bulk_free_slots(b) == 0)
    return luaL_error(L, "no free slot: poll until one finishes");
  if (gt_bulk_start_revoke(b, tag, token, token_len, id, id_len, &res) == GT_DONE) {
    lua_pushboolean(L, 1);
    return 1;
  }
  return push_result(L, &res, 1);
}

/* Collects finished transfers as { tag, result } pairs in the table on top
 * of the stack. Called from gt_bulk_poll once libcurl is done with the
 * transfer (it is off the multi handle and its slot is free), so even a
 * memory error raised here unwinds through no libcurl frame and leaves
 * nothing half-done: the transfers still queued are read by the next poll. */
typedef struct collect_state {
  lua_State *L;
  int n;
} collect_state;

static void collect(void *ud, long tag, const gt_result *res) {
  collect_state *cs = ud;
  lua_State *L = cs->L;
  lua_createtable(L, 2, 0);
  lua_pushinteger(L, (lua_Integer)tag);
  lua_rawseti(L, -2, 1);
  push_result(L, res, 1);
  lua_rawseti(L, -2, 2);
  lua_rawseti(L, -2, ++cs->n);
}

/* bulk:poll(timeout_seconds) -> { {tag, result}, ... } of what finished. */
static int bulk_poll(lua_State *L) {
  gt_bulk *b = check_bulk(L);
  lua_Number timeout = luaL_optnumber(L, 2, 0);
  collect_state cs;
  int ms = timeout > 0 ? (int)(timeout * 1000 + 0.5) : 0;
  if (ms > 60000)
    ms = 60000;
  lua_settop(L, 2);
  lua_newtable(L);
  luaL_checkstack(L, 8, NULL);
  cs.L = L;
  cs.n = 0;
  if (gt_bulk_poll(b, ms, collect, &cs) < 0)
    return luaL_error(L, "libcurl's multi interface failed");
  return 1;
}

static int bulk_in_flight(lua_State *L) {
  lua_pushinteger(L, gt_bulk_in_flight(check_bulk(L)));
  return 1;
}

static int bulk_free_slots(lua_State *L) {
  lua_pushinteger(L, gt_bulk_free_slots(check_bulk(L)));
  return 1;
}

/* close() and __gc: aborts what is in flight; idempotent. */
static int bulk_close(lua_State *L) {
  bulk_box *box = (bulk_box *)luaL_checkudata(L, 1, BULK_MT);
  gt_bulk_free(box->bulk);
  box->bulk = NULL;
  return 0;
}

/* close(), __gc and __close: idempotent. */
static int client_close(lua_State *L) {
  client_box *box = check_box(L);
  gt_client_free(box->client);
  box->client = NULL;
  return 0;
}

static int client_closed(lua_State *L) {
  lua_pushboolean(L, check_box(L)->client == NULL);
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

/* core.decode_object(text [, cache_strings]) -> table | nil, message (see
 * lua_json.h); cache_strings as me() decodes, for the specs. */
static int core_decode_object(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  return gt_json_decode_object(L, text, len, lua_toboolean(L, 2));
}

/* core.parse_count(s): a header's non-negative integer, or nil. */
static int core_parse_count(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  long long v = gt_parse_count(s, len);
  if (v < 0)
    lua_pushnil(L);
  else
    lua_pushinteger(L, (lua_Integer)v);
  return 1;
}

/* core.now(): seconds on a monotonic clock, for durations and deadlines. */
static int core_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* core.sleep(seconds): the retry wait outside nginx. */
static int core_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  struct timespec ts;
  if (!(s > 0))
    return 0;
  if (s > 86400)
    s = 86400;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  return 0;
}

static void set_functions(lua_State *L, const luaL_Reg *f) {
  for (; f->name; f++) {
    lua_pushcfunction(L, f->func);
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
    {"parse_count", core_parse_count},
    {"decode_object", core_decode_object},
    {"now", core_now},
    {"sleep", core_sleep},
    {NULL, NULL}
  };
  char agent[96];

  if (gt_global_init() != 0)
    return luaL_error(L, "libcurl initialisation failed");

  luaL_newmetatable(L, CLIENT_MT);
  lua_newtable(L);
  set_functions(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, client_close);
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
    set_functions(L, bulk_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, bulk_close);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
  }

  lua_newtable(L);
  set_functions(L, module);
  lua_pushliteral(L, GT_VERSION);
  lua_setfield(L, -2, "_VERSION");
  gt_library_agent(agent, sizeof agent);
  lua_pushstring(L, agent);
  lua_setfield(L, -2, "user_agent");
  return 1;
}
