-- JSON through a private lua-cjson instance, so that no setting of ours
-- touches the application's global cjson, and none of its settings ours.
local cjson = require "cjson.safe"

local codec = cjson.new()
codec.decode_max_depth(64)

local null = codec.null
local json = {}

-- lua-cjson 2.1 decodes every number as a float on Lua 5.3+ (900.0):
-- whole numbers come back as integers, as they were sent.
local tointeger = math.tointeger or function(n) return n end

-- JSON null becomes an absent field, and arrays stay sequences. In place:
-- the decoded tables are ours, and copying them would double the work.
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
        value[k] = nil -- clearing a field during next() is allowed
      elseif type(v) == "table" then
        strip_nulls(v)
      elseif type(v) == "number" then
        value[k] = tointeger(v) or v
      end
    end
  end
  return value
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

return json
