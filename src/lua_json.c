/* A one-pass JSON decoder into Lua tables (see lua_json.h).
 *
 * Why not lua-cjson: a TokenInfo decoded with cjson, then walked again to
 * drop its nulls and turn whole floats into integers, cost more than the
 * HTTP request it came from. Here that happens as the text is read, and
 * every table is made once at its final size: a container's members wait on
 * the Lua stack (a batch at a time) and go into a table sized for them, so
 * no table is rehashed while it fills.
 *
 * Strict grammar: no comments, no trailing commas, no NaN/Infinity/hex, no
 * raw control characters in strings, no lone surrogate in a \u escape. */
#include "lua_json.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* Members held on the stack before they go into their table: bounds the
 * stack a deep document needs (Lua 5.1 allows C functions 8,000 slots). */
#define OBJECT_BATCH 16
#define ARRAY_BATCH 32
#define LEVEL_SLOTS (2 * OBJECT_BATCH + 4)

/* Digits that always fit a double exactly (2^53 has 16). */
#define EXACT_DIGITS 15

/* The string cache (with cache_strings): short strings already made, in
 * sets of two slots picked by a hash of their bytes. The keys of a
 * TokenInfo, and most of its values, are the same every call, and pushing
 * a string from here costs less than Lua hashing and interning its bytes
 * anew. One cache per Lua state, in its registry: a userdata holding the
 * bytes of each slot's string, whose user value (a table) holds the string
 * itself at slot + 1. At most 512 strings of 40 bytes, kept for the
 * state's lifetime. Two ways a set, because the 36 strings of a TokenInfo
 * in 256 single slots would collide (and evict each other every call). */
#define CACHE_BITS 8
#define CACHE_SETS (1 << CACHE_BITS)
#define CACHE_SLOTS (2 * CACHE_SETS)
#define CACHE_MAX_LEN 40 /* Lua 5.4 interns (and hashes) strings up to 40 bytes */
typedef struct {
  unsigned char len; /* length + 1; 0 for an empty slot */
  char bytes[CACHE_MAX_LEN];
} cache_entry;
typedef struct {
  cache_entry entries[CACHE_SLOTS]; /* set i: slots 2i and 2i + 1 */
  unsigned char victim[CACHE_SETS]; /* the slot of the set a miss replaces */
} string_cache;

typedef struct {
  lua_State *L;
  string_cache *cache; /* NULL: no cache */
  int cache_index;     /* stack slot of the cache's strings table */
  const char *text, *p, *end;
  int scratch;  /* stack slot of the unescaping buffer (a userdata) */
  char *buf;    /* its memory, NULL until a string has an escape */
  char err[96];
} decoder;

/* A value was pushed, a null was read (nothing pushed), or an error. */
enum { GOT_VALUE = 1, GOT_NULL = 0, FAILED = -1 };

static int fail(decoder *d, const char *what) {
  if (d->p >= d->end)
    snprintf(d->err, sizeof d->err, "%s at the end of the text", what);
  else
    snprintf(d->err, sizeof d->err, "%s at character %lu", what, (unsigned long)(d->p - d->text) + 1);
  return FAILED;
}

static void skip_blanks(decoder *d) {
  const char *p = d->p;
  while (p < d->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  d->p = p;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The first byte from p on that ends a plain run of a string: a quote, a
 * backslash or a control character (or `end`). Eight bytes at a time: the
 * strings of a TokenInfo are most of its text. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static const char *plain_run(const char *p, const char *end) {
  while (end - p >= 8) {
    uint64_t w, quote, backslash, found;
    memcpy(&w, p, 8);
    quote = w ^ (ONES * '"');
    backslash = w ^ (ONES * '\\');
    /* The high bit of each byte that is zero in quote or backslash, or
     * below 0x20 in w; a borrow can flag bytes above the first such byte,
     * never below it, so the lowest flag is exact. */
    found = (((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash) | ((w - ONES * 0x20) & ~w)) & HIGHS;
    if (found) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      return p + (__builtin_ctzll(found) >> 3);
#else
      break;
#endif
    }
    p += 8;
  }
  while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
    p++;
  return p;
}

static int value(decoder *d, int depth);

/* The set of a string: its length and its first and last 8 bytes, mixed.
 * Strings that differ only in the middle share a set. */
static unsigned cache_set(const char *s, size_t len) {
  uint64_t a = 0, b = 0, h;
  if (len >= 8) {
    memcpy(&a, s, 8);
    memcpy(&b, s + len - 8, 8);
  } else {
    memcpy(&a, s, len);
  }
  h = (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ len) * 0xff51afd7ed558ccdULL;
  return (unsigned)(h >> (64 - CACHE_BITS));
}

/* memcmp(a, b, len) == 0 for the short strings of the cache, without a
 * call: 8 bytes at a time, the last word overlapping the one before. */
static int same_bytes(const char *a, const char *b, size_t len) {
  uint64_t x, y;
  size_t i;
  if (len < 8)
    return memcmp(a, b, len) == 0;
  for (i = 0; i + 8 < len; i += 8) {
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    if (x != y)
      return 0;
  }
  memcpy(&x, a + len - 8, 8);
  memcpy(&y, b + len - 8, 8);
  return x == y;
}

/* Pushes the string of `len` bytes at s, from the cache when it is there;
 * one that was not replaces the other string of its set than the one used
 * last. */
static void push_string(decoder *d, const char *s, size_t len) {
  lua_State *L = d->L;
  cache_entry *e;
  unsigned set, slot, way;
  if (d->cache == NULL || len > CACHE_MAX_LEN) {
    lua_pushlstring(L, s, len);
    return;
  }
  set = cache_set(s, len);
  for (way = 0; way < 2; way++) {
    slot = 2 * set + way;
    e = &d->cache->entries[slot];
    if (e->len == len + 1 && same_bytes(e->bytes, s, len)) {
      d->cache->victim[set] = (unsigned char)(1 - way);
      lua_rawgeti(L, d->cache_index, (int)slot + 1);
      return;
    }
  }
  way = d->cache->victim[set];
  slot = 2 * set + way;
  e = &d->cache->entries[slot];
  lua_pushlstring(L, s, len);
  lua_pushvalue(L, -1);
  e->len = 0; /* empty until the slot holds the string (the table was made
               * with all its slots: storing one allocates nothing) */
  lua_rawseti(L, d->cache_index, (int)slot + 1);
  memcpy(e->bytes, s, len);
  e->len = (unsigned char)(len + 1);
  d->cache->victim[set] = (unsigned char)(1 - way);
}

/* The 4 hex digits at p, or -1. */
static long hex4(const char *p) {
  long v = 0;
  int i;
  for (i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= c - '0';
    else if (c >= 'a' && c <= 'f')
      v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v |= c - 'A' + 10;
    else
      return -1;
  }
  return v;
}

static size_t put_utf8(char *out, unsigned long cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The unescaping buffer: as long as the whole text, which no unescaped
 * string can outgrow. A userdata, so that a memory error frees it. */
static char *scratch(decoder *d) {
  if (d->buf == NULL) {
    d->buf = (char *)lua_newuserdata(d->L, (size_t)(d->end - d->text) + 1);
    lua_replace(d->L, d->scratch);
  }
  return d->buf;
}

/* After the opening quote of a string with an escape; `run` is the part
 * before the first backslash. Pushes the unescaped string. */
static int escaped_string(decoder *d, const char *run) {
  char *out = scratch(d), *o = out;
  const char *p = d->p;
  memcpy(o, run, (size_t)(p - run));
  o += p - run;
  while (p < d->end) {
    const char *plain = p;
    p = plain_run(p, d->end);
    memcpy(o, plain, (size_t)(p - plain));
    o += p - plain;
    if (p >= d->end)
      break;
    if (*p == '"') {
      d->p = p + 1;
      push_string(d, out, (size_t)(o - out));
      return GOT_VALUE;
    }
    if ((unsigned char)*p < 0x20) {
      d->p = p;
      return fail(d, "control character in a string");
    }
    if (p + 1 >= d->end)
      break;
    d->p = p;
    switch (p[1]) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '/': *o++ = '/'; break;
    case 'b': *o++ = '\b'; break;
    case 'f': *o++ = '\f'; break;
    case 'n': *o++ = '\n'; break;
    case 'r': *o++ = '\r'; break;
    case 't': *o++ = '\t'; break;
    case 'u': {
      long cp = d->end - p >= 6 ? hex4(p + 2) : -1;
      if (cp < 0)
        return fail(d, "invalid \\u escape");
      if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(d, "lone low surrogate in a \\u escape");
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        long low = (d->end - p >= 12 && p[6] == '\\' && p[7] == 'u') ? hex4(p + 8) : -1;
        if (low < 0xDC00 || low > 0xDFFF)
          return fail(d, "lone high surrogate in a \\u escape");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        p += 6;
      }
      /* An escape is 6 bytes or 12, its UTF-8 at most 4: o never passes p. */
      o += put_utf8(o, (unsigned long)cp);
      p += 4;
      break;
    }
    default:
      return fail(d, "invalid escape");
    }
    p += 2;
  }
  d->p = d->end;
  return fail(d, "unfinished string");
}

/* At the opening quote. */
static int string(decoder *d) {
  const char *run = d->p + 1, *p = plain_run(run, d->end);
  d->p = p;
  if (p >= d->end)
    return fail(d, "unfinished string");
  if (*p == '"') {
    d->p = p + 1;
    push_string(d, run, (size_t)(p - run));
    return GOT_VALUE;
  }
  if (*p == '\\')
    return escaped_string(d, run);
  return fail(d, "control character in a string");
}

static void push_double(lua_State *L, double v) {
#if LUA_VERSION_NUM >= 503
  /* Whole numbers as integers, as they were sent (900, not 900.0). */
  if (v >= -9223372036854775808.0 && v < 9223372036854775808.0 && floor(v) == v) {
    lua_pushinteger(L, (lua_Integer)v);
    return;
  }
#endif
  lua_pushnumber(L, v);
}

/* strtod on a copy, with the locale's decimal point (a Lua host may have
 * called setlocale). */
static int parse_double(decoder *d, const char *s, size_t len, double *v) {
  char small[64], *copy = len < sizeof small ? small : scratch(d), *end;
  char point = localeconv()->decimal_point[0];
  size_t i;
  memcpy(copy, s, len);
  copy[len] = '\0';
  if (point != '.')
    for (i = 0; i < len; i++)
      if (copy[i] == '.')
        copy[i] = point;
  *v = strtod(copy, &end);
  return end == copy + len;
}

static int number(decoder *d) {
  const char *s = d->p, *p = s, *digits;
  int whole = 1;
  if (p < d->end && *p == '-')
    p++;
  digits = p;
  if (p < d->end && *p == '0')
    p++;
  else if (p < d->end && *p >= '1' && *p <= '9')
    while (p < d->end && is_digit(*p))
      p++;
  else {
    d->p = p;
    return fail(d, "invalid number");
  }
  if (p < d->end && *p == '.') {
    whole = 0;
    if (++p >= d->end || !is_digit(*p)) {
      d->p = p;
      return fail(d, "invalid number");
    }
    while (p < d->end && is_digit(*p))
      p++;
  }
  if (p < d->end && (*p == 'e' || *p == 'E')) {
    whole = 0;
    p++;
    if (p < d->end && (*p == '+' || *p == '-'))
      p++;
    if (p >= d->end || !is_digit(*p)) {
      d->p = p;
      return fail(d, "invalid number");
    }
    while (p < d->end && is_digit(*p))
      p++;
  }
  d->p = p;
  if (whole && p - digits <= EXACT_DIGITS) {
    long long v = 0;
    const char *q;
    for (q = digits; q < p; q++)
      v = v * 10 + (*q - '0');
    lua_pushinteger(d->L, (lua_Integer)(s == digits ? v : -v));
  } else {
    double v;
    if (!parse_double(d, s, (size_t)(p - s), &v)) {
      d->p = s;
      return fail(d, "invalid number");
    }
    push_double(d->L, v);
  }
  return GOT_VALUE;
}

static int literal(decoder *d, const char *word, size_t len) {
  if ((size_t)(d->end - d->p) < len || memcmp(d->p, word, len) != 0)
    return fail(d, "unexpected character");
  d->p += len;
  return GOT_VALUE;
}

/* Room for one more level of containers. */
static int enter(decoder *d, int depth) {
  if (depth > GT_JSON_MAX_DEPTH)
    return fail(d, "more than 64 nested arrays and objects");
  if (!lua_checkstack(d->L, LEVEL_SLOTS))
    return fail(d, "nested too deeply for the Lua stack");
  return GOT_VALUE;
}

/* The pairs above `slot` go into the table at `slot` (made now, sized for
 * them, if it is still the nil placeholder). */
static void flush_object(lua_State *L, int slot, int pairs) {
  int i;
  if (lua_isnil(L, slot)) {
    lua_createtable(L, 0, pairs);
    lua_replace(L, slot);
  }
  for (i = 0; i < pairs; i++) {
    lua_pushvalue(L, slot + 1 + 2 * i);
    lua_pushvalue(L, slot + 2 + 2 * i);
    lua_rawset(L, slot); /* in order, so that a repeated key's last value wins */
  }
  lua_settop(L, slot);
}

static void flush_array(lua_State *L, int slot, int items, int *count) {
  int i;
  if (lua_isnil(L, slot)) {
    lua_createtable(L, items, 0);
    lua_replace(L, slot);
  }
  for (i = 0; i < items; i++) {
    lua_pushvalue(L, slot + 1 + i);
    lua_rawseti(L, slot, ++*count);
  }
  lua_settop(L, slot);
}

static int object(decoder *d, int depth) {
  lua_State *L = d->L;
  int slot, pairs = 0;
  if (enter(d, depth) == FAILED)
    return FAILED;
  lua_pushnil(L); /* the table's placeholder */
  slot = lua_gettop(L);
  d->p++;
  skip_blanks(d);
  if (d->p < d->end && *d->p == '}') {
    d->p++;
    flush_object(L, slot, 0);
    return GOT_VALUE;
  }
  for (;;) {
    if (d->p >= d->end || *d->p != '"')
      return fail(d, "expected a string key");
    if (string(d) == FAILED)
      return FAILED;
    skip_blanks(d);
    if (d->p >= d->end || *d->p != ':')
      return fail(d, "expected ':'");
    d->p++;
    skip_blanks(d);
    switch (value(d, depth)) {
    case FAILED:
      return FAILED;
    case GOT_NULL:
      lua_pushnil(L); /* clears the key if an earlier member set it */
      break;
    }
    if (++pairs == OBJECT_BATCH) {
      flush_object(L, slot, pairs);
      pairs = 0;
    }
    skip_blanks(d);
    if (d->p < d->end && *d->p == ',') {
      d->p++;
      skip_blanks(d);
    } else if (d->p < d->end && *d->p == '}') {
      d->p++;
      flush_object(L, slot, pairs);
      return GOT_VALUE;
    } else {
      return fail(d, "expected ',' or '}'");
    }
  }
}

static int array(decoder *d, int depth) {
  lua_State *L = d->L;
  int slot, items = 0, count = 0;
  if (enter(d, depth) == FAILED)
    return FAILED;
  lua_pushnil(L);
  slot = lua_gettop(L);
  d->p++;
  skip_blanks(d);
  if (d->p < d->end && *d->p == ']') {
    d->p++;
    flush_array(L, slot, 0, &count);
    return GOT_VALUE;
  }
  for (;;) {
    int got = value(d, depth);
    if (got == FAILED)
      return FAILED;
    if (got == GOT_VALUE && ++items == ARRAY_BATCH) {
      flush_array(L, slot, items, &count);
      items = 0;
    }
    skip_blanks(d);
    if (d->p < d->end && *d->p == ',') {
      d->p++;
      skip_blanks(d);
    } else if (d->p < d->end && *d->p == ']') {
      d->p++;
      flush_array(L, slot, items, &count);
      return GOT_VALUE;
    } else {
      return fail(d, "expected ',' or ']'");
    }
  }
}

/* One value at d->p (blanks already skipped); `depth` counts the
 * containers around it. */
static int value(decoder *d, int depth) {
  if (d->p >= d->end)
    return fail(d, "expected a value");
  switch (*d->p) {
  case '{':
    return object(d, depth + 1);
  case '[':
    return array(d, depth + 1);
  case '"':
    return string(d);
  case 't':
    if (literal(d, "true", 4) == FAILED)
      return FAILED;
    lua_pushboolean(d->L, 1);
    return GOT_VALUE;
  case 'f':
    if (literal(d, "false", 5) == FAILED)
      return FAILED;
    lua_pushboolean(d->L, 0);
    return GOT_VALUE;
  case 'n':
    return literal(d, "null", 4) == FAILED ? FAILED : GOT_NULL;
  default:
    if (*d->p == '-' || is_digit(*d->p))
      return number(d);
    return fail(d, "unexpected character");
  }
}

static const char *kind_of(char first) {
  switch (first) {
  case '[': return "an array";
  case '"': return "a string";
  case 't': case 'f': return "a boolean";
  case 'n': return "null";
  default: return "a number";
  }
}

#if LUA_VERSION_NUM >= 502
#define set_uservalue lua_setuservalue
#define get_uservalue lua_getuservalue
#else
#define set_uservalue lua_setfenv
#define get_uservalue lua_getfenv
#endif

static const char CACHE_KEY = 0; /* its address keys the cache in the registry */

/* The state's cache (made on first use), its strings table pushed. */
static string_cache *get_cache(lua_State *L) {
  string_cache *c;
  lua_pushlightuserdata(L, (void *)&CACHE_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  c = (string_cache *)lua_touserdata(L, -1);
  if (c == NULL) {
    lua_pop(L, 1);
    c = (string_cache *)lua_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    lua_createtable(L, CACHE_SLOTS, 0);
    set_uservalue(L, -2);
    lua_pushlightuserdata(L, (void *)&CACHE_KEY);
    lua_pushvalue(L, -2);
    lua_rawset(L, LUA_REGISTRYINDEX);
  }
  get_uservalue(L, -1);
  lua_remove(L, -2);
  return c;
}

int gt_json_decode_object(lua_State *L, const char *text, size_t len, int cache_strings) {
  decoder d;
  int base = lua_gettop(L), got;
  char first;
  luaL_checkstack(L, LEVEL_SLOTS + 2, "decoding JSON"); /* + the cache and the scratch slot */
  d.cache = NULL;
  if (cache_strings) {
    d.cache = get_cache(L);
    d.cache_index = lua_gettop(L);
  }
  d.L = L;
  d.text = d.p = text;
  d.end = text + len;
  d.buf = NULL;
  d.err[0] = '\0';
  lua_pushnil(L); /* the slot of the unescaping buffer */
  d.scratch = lua_gettop(L);
  skip_blanks(&d);
  first = d.p < d.end ? *d.p : '\0';
  got = value(&d, 0);
  if (got != FAILED) {
    skip_blanks(&d);
    if (d.p < d.end)
      got = fail(&d, "text after the JSON value");
  }
  if (got == FAILED) {
    lua_settop(L, base);
    lua_pushnil(L);
    lua_pushfstring(L, "invalid JSON: %s", d.err);
    return 2;
  }
  if (first != '{') {
    lua_settop(L, base);
    lua_pushnil(L);
    lua_pushfstring(L, "expected a JSON object, got %s", kind_of(first));
    return 2;
  }
  lua_replace(L, base + 1); /* the table takes the first slot */
  lua_settop(L, base + 1);
  return 1;
}
