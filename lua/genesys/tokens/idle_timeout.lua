-- The IdleTokenTimeout body of PUT /api/v2/tokens/timeout: checked field
-- by field (a misspelt field raises rather than being ignored) and encoded
-- by its schema, so that an empty list is sent as [] and not as {}.
-- Ranges are the API's to judge: its 400 comes back as nil, err.
local cjson = require "cjson.safe"

local idle_timeout = {}

local function is_integer(v)
  return type(v) == "number" and v == v and v % 1 == 0 and math.abs(v) < 2 ^ 53
end

local function integer(v) return ("%.0f"):format(v) end
local function boolean(v) return v and "true" or "false" end
local function text(v) return (cjson.encode(v)) end

local function array(list, item)
  local out = {}
  for i = 1, #list do out[i] = item(list[i]) end
  return "[" .. table.concat(out, ",") .. "]"
end

-- field -> { check, encode }
local BUNDLE = {
  priority = { is_integer, integer, "a whole number" },
  timeoutSeconds = { is_integer, integer, "a whole number" },
  inactivityTimeoutUnit = { function(v) return type(v) == "string" end, text, "a string" },
  groups = { function(v)
    if type(v) ~= "table" then return false end
    for k, g in pairs(v) do
      if type(k) ~= "number" or k % 1 ~= 0 or k < 1 or k > #v or type(g) ~= "string" then return false end
    end
    return true
  end, function(v) return array(v, text) end, "a list of group id strings" },
}

local function object(value, schema, where, fail)
  if type(value) ~= "table" then fail(("%s must be a table, got %s"):format(where, type(value))) end
  local keys = {}
  for k, v in pairs(value) do
    local field = schema[k]
    if not field then fail(("%s: unknown field '%s'"):format(where, tostring(k))) end
    if not field[1](v, where .. "." .. k, fail) then
      fail(("%s.%s must be %s"):format(where, k, field[3]))
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = text(k) .. ":" .. schema[k][2](value[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end

local refuse
local TIMEOUT = {
  idleTokenTimeoutSeconds = { is_integer, integer, "a whole number of seconds" },
  enableIdleTokenTimeout = { function(v) return type(v) == "boolean" end, boolean, "a boolean" },
  inactivityTimeoutUnit = { function(v) return type(v) == "string" end, text, "a string" },
  inactivityTimeoutGroupsEnabled = { function(v) return type(v) == "boolean" end, boolean, "a boolean" },
  inactivityTimeoutGroupBundles = {
    function(v, where, fail)
      if type(v) ~= "table" then return false end
      for k, bundle in pairs(v) do
        if type(k) ~= "number" or k % 1 ~= 0 or k < 1 or k > #v then return false end
        object(bundle, BUNDLE, ("%s[%d]"):format(where, k), fail)
      end
      return true
    end,
    function(v) return array(v, function(b) return object(b, BUNDLE, "", refuse) end) end,
    "a list of bundle tables",
  },
}

-- A refusal, told apart from a bug in this file by its metatable.
local Refusal = {}

function refuse(message)
  error(setmetatable({ message = message }, Refusal), 0)
end

--- The JSON body for `value`, or nil and what is wrong with it.
function idle_timeout.encode(value)
  local ok, result = pcall(object, value, TIMEOUT, "timeout", refuse)
  if ok then return result end
  if getmetatable(result) == Refusal then return nil, result.message end
  error(result, 0)
end

return idle_timeout
