-- JSON through a private lua-cjson instance, so that no setting of ours
-- touches the application's global cjson, and none of its settings ours.
local cjson = require "cjson.safe"

local codec = cjson.new()
codec.decode_max_depth(64)
codec.encode_max_depth(64)

local null = codec.null
local json = {}

-- lua-cjson 2.1 decodes every number as a float on Lua 5.3+ (900.0):
-- whole numbers come back as integers, as they were sent.
local tointeger = math.tointeger or function(n) return n end

-- JSON null becomes an absent field, and arrays stay sequences.
local function strip_nulls(value)
  if type(value) == "number" then return tointeger(value) or value end
  if type(value) ~= "table" then return value end
  local out, n = {}, 0
  if #value > 0 or next(value) == nil then
    for i = 1, #value do
      if value[i] ~= null then
        n = n + 1
        out[n] = strip_nulls(value[i])
      end
    end
  end
  for k, v in pairs(value) do
    if type(k) == "string" and v ~= null then out[k] = strip_nulls(v) end
  end
  return out
end

--- Decodes a JSON object into a plain table; nil and a message when the
-- text is not JSON or not an object.
function json.decode_object(text)
  local value, err = codec.decode(text)
  if value == nil and err then return nil, "invalid JSON: " .. err end
  if value == null or value == nil then return nil, "expected a JSON object, got null" end
  if type(value) ~= "table" then return nil, "expected a JSON object, got a " .. type(value) end
  if #value > 0 then return nil, "expected a JSON object, got an array" end
  return strip_nulls(value)
end

function json.encode(value)
  return codec.encode(value)
end

return json
