-- JSON bodies into plain tables, by the C core's one-pass decoder
-- (src/lua_json.c): null becomes an absent field (arrays close up and stay
-- sequences), whole numbers come back as integers on Lua 5.3+, at most 64
-- levels deep, strict RFC 8259 grammar.
local core = require "genesys.tokens.core"

local json = {}

--- Decodes a JSON object into a plain table; nil and a message when the
-- text is not JSON or not an object.
json.decode_object = core.decode_object

return json
