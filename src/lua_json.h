/* JSON text straight into Lua tables, for the bodies Genesys Cloud sends. */
#ifndef LUA_JSON_H
#define LUA_JSON_H

#include <stddef.h>

#include <lua.h>

/* At most this many containers inside one another. */
#define GT_JSON_MAX_DEPTH 64

/* Decodes `text`, which must hold one JSON object (RFC 8259, nothing but
 * blanks around it). Pushes the table and returns 1, or pushes nil and a
 * message and returns 2. In the table, null is dropped (a field is absent;
 * an array closes up and stays a sequence) and, on Lua 5.3+, a whole number
 * that fits is an integer. Raises only when Lua runs out of memory.
 *
 * With `cache_strings`, strings of up to 40 bytes come from a cache kept in
 * the Lua state's registry when their bytes are there already (the keys
 * and most values of a TokenInfo are the same every call), which costs
 * less than Lua interning them anew; for the bodies of API responses, not
 * for credentials. */
int gt_json_decode_object(lua_State *L, const char *text, size_t len, int cache_strings);

#endif
