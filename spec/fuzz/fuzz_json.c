/* libFuzzer harness: any bytes into gt_json_decode_object (src/lua_json.c)
 * on a fresh Lua state. Invariants: it never raises; it leaves exactly a
 * table, or nil and a message of the documented shape; a table is only
 * made from text that opens with '{'; every value in it is a table, string,
 * number or boolean (never nil or userdata) and arrays are sequences; the
 * same text with a byte after it is refused; with the string cache, cold
 * and then warm, the result is the same as without it. A failed invariant
 * calls __builtin_trap(); the state is closed each run, so LeakSanitizer
 * sees anything the decoder left behind. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua_json.h"

#define CHECK(cond) \
  do {              \
    if (!(cond))    \
      __builtin_trap(); \
  } while (0)

static void check_value(lua_State *L, int index, int depth) {
  int t = lua_type(L, index);
  CHECK(t == LUA_TTABLE || t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN);
  if (t != LUA_TTABLE)
    return;
  CHECK(depth <= GT_JSON_MAX_DEPTH);
  index = lua_absindex(L, index);
  {
    lua_Integer n = (lua_Integer)lua_rawlen(L, index), i, count = 0;
    lua_pushnil(L);
    while (lua_next(L, index)) {
      if (lua_type(L, -2) == LUA_TNUMBER) {
        lua_Integer k = lua_tointeger(L, -2);
        CHECK(k >= 1 && k <= n); /* a sequence, no holes */
        count++;
      } else {
        CHECK(lua_type(L, -2) == LUA_TSTRING);
      }
      check_value(L, -1, depth + 1);
      lua_pop(L, 1);
    }
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, index, i);
      CHECK(!lua_isnil(L, -1));
      lua_pop(L, 1);
    }
    CHECK(count == n);
  }
}

/* Deep equality of the values at a and b (tables by content). */
static int same(lua_State *L, int a, int b) {
  int t = lua_type(L, a);
  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  if (t != lua_type(L, b))
    return 0;
  if (t != LUA_TTABLE)
    return lua_rawequal(L, a, b);
  CHECK(lua_checkstack(L, 8));
  lua_pushnil(L);
  while (lua_next(L, a)) {
    int equal;
    lua_pushvalue(L, -2);
    lua_rawget(L, b);
    equal = same(L, -1, -2);
    lua_pop(L, 2);
    if (!equal) {
      lua_pop(L, 1);
      return 0;
    }
  }
  lua_pushnil(L);
  while (lua_next(L, b)) {
    int present;
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_rawget(L, a);
    present = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (!present) {
      lua_pop(L, 1);
      return 0;
    }
  }
  return 1;
}

/* Decodes with the string cache, twice, and compares with the result at
 * 1 (and its message at 2, for a failure); leaves the stack as it was. */
static void check_cached(lua_State *L, const uint8_t *data, size_t size, int n) {
  int round, top = lua_gettop(L);
  for (round = 0; round < 2; round++) {
    CHECK(gt_json_decode_object(L, (const char *)data, size, 1) == n);
    CHECK(same(L, 1, top + 1));
    if (n == 2)
      CHECK(lua_rawequal(L, 2, top + 2));
    lua_settop(L, top);
  }
}

static size_t blanks(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
    i++;
  return i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = luaL_newstate();
  int n;
  CHECK(L != NULL);
  n = gt_json_decode_object(L, (const char *)data, size, 0);
  CHECK(lua_gettop(L) == n);
  check_cached(L, data, size, n);
  if (n == 1) {
    size_t at = blanks(data, size);
    CHECK(at < size && data[at] == '{');
    CHECK(lua_istable(L, 1));
    check_value(L, 1, 1);
    lua_settop(L, 0);
    /* Anything but a blank after the object is refused. */
    {
      char *more = (char *)lua_newuserdata(L, size + 1);
      memcpy(more, data, size);
      more[size] = 'x';
      CHECK(gt_json_decode_object(L, more, size + 1, 0) == 2);
      CHECK(strstr(lua_tostring(L, -1), "text after the JSON value") != NULL);
    }
  } else {
    const char *message;
    CHECK(n == 2);
    CHECK(lua_isnil(L, 1));
    message = lua_tostring(L, 2);
    CHECK(message != NULL);
    CHECK(strncmp(message, "invalid JSON: ", 14) == 0 || strncmp(message, "expected a JSON object, got ", 28) == 0);
  }
  lua_close(L);
  return 0;
}
