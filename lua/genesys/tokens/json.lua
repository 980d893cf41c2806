-- JSON bodies into plain tables, by lua-cjson (cjson.safe; inside nginx,
-- OpenResty's bundled cjson). Then JSON null becomes an absent field
-- (arrays close up and stay sequences) and, on Lua 5.3+, whole numbers
-- become integers: what cjson 2.1.0 gives as cjson.null and floats.
local cjson = require "cjson.safe"

local json = {}

-- An instance of our own, so that its settings are not the caller's (nor
-- ours theirs): numbers as RFC 8259 spells them only (no NaN, Infinity or
-- hex), and a nesting depth no TokenInfo or ErrorBody comes near.
local decoder = cjson.new()
decoder.decode_invalid_numbers(false)
decoder.decode_max_depth(64)

local null = cjson.null
local tointeger = math.tointeger -- nil before Lua 5.3: no integers to make

-- An array holds integer keys 1..n; an object only string keys (the JSON
-- ones), so an object never has [1].
local function clean(t)
  if t[1] ~= nil then
    local n, kept = #t, 0
    for i = 1, n do
      local v = t[i]
      if v ~= null then
        kept = kept + 1
        if type(v) == "table" then
          clean(v)
        elseif tointeger and type(v) == "number" then
          v = tointeger(v) or v
        end
        t[kept] = v
      end
    end
    for i = kept + 1, n do t[i] = nil end
  else
    for k, v in pairs(t) do -- assigning existing keys: allowed during pairs
      if v == null then
        t[k] = nil
      elseif type(v) == "table" then
        clean(v)
      elseif tointeger and type(v) == "number" then
        t[k] = tointeger(v) or v
      end
    end
  end
  return t
end

-- What a JSON text holds when it is not an object, for messages.
local KINDS = { table = "an array", string = "a string", number = "a number", boolean = "a boolean" }

--- Decodes a JSON object into a plain table; nil and a message when the
-- text is not JSON or not an object.
function json.decode_object(text)
  local value, err = decoder.decode(text)
  if err then
    -- cjson.safe's own pcall catches what the interpreter's Ctrl-C hook
    -- raises inside it: that is not a verdict on the text.
    if err:sub(-12) == "interrupted!" then error(err, 0) end
    return nil, "invalid JSON: " .. err
  end
  if type(value) ~= "table" or not text:find("^[ \t\r\n]*{") then
    return nil, "expected a JSON object, got " .. (value == null and "null" or KINDS[type(value)])
  end
  return clean(value)
end

return json
