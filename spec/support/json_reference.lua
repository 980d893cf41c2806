-- The reference the C decoder (src/lua_json.c) is checked against: how
-- genesys.tokens decoded bodies before it, with lua-cjson, then a second
-- walk that drops nulls and turns whole floats into integers.
-- lua-cjson is more lenient than the C decoder (it takes 0x10, NaN,
-- Infinity, raw control characters, and "[]" passed for an object here), so
-- the decode spec compares the two only where that cannot matter.
local cjson = require "cjson.safe"

local codec = cjson.new()
codec.decode_max_depth(64)
local null = codec.null
local tointeger = math.tointeger or function(n) return n end

local function strip_nulls(value)
  local n = #value
  if n > 0 then
    local kept = 0
    for i = 1, n do
      local v = value[i]
      value[i] = nil
      if v ~= null then
        kept = kept + 1
        if type(v) == "table" then strip_nulls(v) elseif type(v) == "number" then v = tointeger(v) or v end
        value[kept] = v
      end
    end
  end
  for k, v in next, value do
    if type(k) == "string" then
      if v == null then
        value[k] = nil
      elseif type(v) == "table" then
        strip_nulls(v)
      elseif type(v) == "number" then
        value[k] = tointeger(v) or v
      end
    end
  end
  return value
end

return function(text)
  local value, err = codec.decode(text)
  if value == nil and err then return nil, "invalid JSON: " .. err end
  if value == null or value == nil then return nil, "expected a JSON object, got null" end
  if type(value) ~= "table" then return nil, "expected a JSON object, got a " .. type(value) end
  if #value > 0 then return nil, "expected a JSON object, got an array" end
  return strip_nulls(value)
end
