-- Randomised decoding: json.decode_object and errors.from_response on tens of
-- thousands of bodies — every field of a real TokenInfo and ErrorBody given
-- every wrong type, then byte flips, truncations, inserted nulls, deep
-- nesting, huge numbers, invalid UTF-8, NUL bytes and random text.
--
-- The cases come from a private Park-Miller generator, not math.random, so
-- that a seed gives the same cases on Lua 5.1-5.4 and LuaJIT (and the other
-- specs' random state is left alone). GT_FUZZ_SEED and GT_FUZZ_CASES override
-- the fixed seed and the number of random cases; GT_FUZZ_SECONDS bounds the
-- CPU time spent generating them.
local json = require "genesys.tokens.json"
local errors = require "genesys.tokens.errors"
local cjson = require "cjson"

local SEED = tonumber(os.getenv("GT_FUZZ_SEED") or "") or 20240611
local CASES = tonumber(os.getenv("GT_FUZZ_CASES") or "") or 15000
local SECONDS = tonumber(os.getenv("GT_FUZZ_SECONDS") or "") or 60

-- Secrets as the library would hold them: an access token (visible ASCII)
-- and a client secret (which may contain a space).
local TOKEN = "tOk-9fQ2xL7pZ0bW"
local CLIENT_SECRET = "s3cr3t Cl1ent~42"
local SECRETS = { TOKEN, CLIENT_SECRET }

-- Park-Miller: exact in doubles (5.1, LuaJIT) and in integers (5.3+).
local state = SEED % 2147483646 + 1
local function rand(n) -- 1..n
  state = (state * 16807) % 2147483647
  return state % n + 1
end
local function pick(list) return list[rand(#list)] end

---------------------------------------------------------------------------
-- Documents as ordered trees, so that the text is the same on every runtime:
-- a Lua string is a JSON string, { raw = "..." } is verbatim JSON, and
-- { obj = { { key, value }, ... } } / { arr = { value, ... } } are containers.

local function str_escape(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode(v, out)
  if type(v) == "string" then
    out[#out + 1] = str_escape(v)
  elseif v.raw then
    out[#out + 1] = v.raw
  elseif v.obj then
    out[#out + 1] = "{"
    for i, kv in ipairs(v.obj) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = str_escape(kv[1])
      out[#out + 1] = ":"
      encode(kv[2], out)
    end
    out[#out + 1] = "}"
  else
    out[#out + 1] = "["
    for i, e in ipairs(v.arr) do
      if i > 1 then out[#out + 1] = "," end
      encode(e, out)
    end
    out[#out + 1] = "]"
  end
  return out
end
local function to_text(v) return table.concat(encode(v, {})) end

local function num(text) return { raw = text } end
local function obj(pairs_) return { obj = pairs_ } end
local function arr(items) return { arr = items } end

-- A TokenInfo as GET /api/v2/tokens/me returns it.
local function token_info()
  local org = "6a5b8c1e-1f2a-4b3c-9d8e-7f6a5b4c3d2e"
  return obj {
    { "organization", obj { { "id", org }, { "name", "Acme Contact Center" },
      { "selfUri", "/api/v2/organizations/" .. org } } },
    { "homeOrganization", obj { { "id", org }, { "name", "Acme Contact Center" } } },
    { "authorizedScope", arr { "tokens", "users:readonly", "analytics" } },
    { "clonedUser", obj { { "id", "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5" },
      { "organization", obj { { "id", org } } } } },
    { "OAuthClient", obj {
      { "id", "e3b0c442-98fc-4c14-9afb-f4c8996fb924" }, { "name", "nginx gate" },
      { "dateCreated", "2024-01-02T03:04:05.000Z" },
      { "createdBy", obj { { "id", "5f0c3a9e-8d2b-4c1e-9a7f-1b2c3d4e5f60" } } },
      { "organization", obj { { "id", org } } },
      { "scope", arr { "tokens" } }, { "roleDivisions", arr {} } } },
    { "dateTokenIdles", "2024-06-11T10:00:00.000Z" },
    { "expiresIn", num "86399" },
  }
end

-- The platform's ErrorBody, echoing the token in its message as a careless
-- server might.
local function error_body()
  return obj {
    { "message", "Invalid login credentials for token " .. TOKEN },
    { "code", "bad.credentials" },
    { "status", num "401" },
    { "messageWithParams", "Invalid login credentials for {token}" },
    { "messageParams", obj { { "token", TOKEN } } },
    { "contextId", "5f0c3a9e-8d2b-4c1e-9a7f-1b2c3d4e5f60" },
    { "details", arr { obj { { "errorCode", "AUTH-1" }, { "fieldName", "token" } } } },
    { "errors", arr {} },
  }
end

-- Every value a field can wrongly hold.
local WRONG = {
  "null", "true", "false", "0", "-1", "-0", "1.5", "1e400", "-1e400", "1e-400",
  "123456789012345678901234567890", "0x10", "NaN", "-Infinity", '""', '"x"',
  "[]", "{}", "[null]", '{"a":null}', "[[[[[[[[[[1]]]]]]]]]]",
  string.rep("[", 70) .. string.rep("]", 70),
  '"line one\\r\\nline two\\u0000three"', '"\\u0000"', '"\\ud800"', '"\\u2028"',
  '"\255\254\192\128"', '"\237\160\128"', '"' .. string.rep("a", 5000) .. '"',
  str_escape(TOKEN), str_escape(CLIENT_SECRET), str_escape("before " .. TOKEN .. " after"),
  str_escape("a\r\n" .. CLIENT_SECRET .. "\n"), '"\\u0074Ok-9fQ2xL7pZ0bW"',
}

-- Each (parent, index) that holds a value, at any depth.
local function slots(v, out)
  out = out or {}
  if type(v) == "table" and (v.obj or v.arr) then
    local list = v.obj or v.arr
    for i, e in ipairs(list) do
      out[#out + 1] = { list = list, i = i, pair = v.obj ~= nil }
      slots(v.obj and e[2] or e, out)
    end
  end
  return out
end

local function with_slot(slot, value)
  local old
  if slot.pair then
    old = slot.list[slot.i][2]
    slot.list[slot.i][2] = value
  else
    old = slot.list[slot.i]
    slot.list[slot.i] = value
  end
  return old
end

-- Every field of both documents with every wrong value, plus the whole body.
local function wrong_type_cases()
  local out = {}
  for _, make in ipairs { token_info, error_body } do
    local doc = make()
    for _, slot in ipairs(slots(doc)) do
      for _, w in ipairs(WRONG) do
        local old = with_slot(slot, { raw = w })
        out[#out + 1] = to_text(doc)
        with_slot(slot, old)
      end
    end
    out[#out + 1] = to_text(doc)
  end
  for _, w in ipairs(WRONG) do out[#out + 1] = w end
  return out
end

---------------------------------------------------------------------------
-- Random text and mutations.

local INSERTS = {
  "null", "null,", ":null", ',"x":null', "[null]", "{", "}", "[", "]", ",", ":", '"', "\\",
  "\\u0000", "\\ud800", "\\udc00", "\0", "\255", "\192\128", "\237\160\128", "\240\144",
  "1e999", "-1e999", "99999999999999999999999999", "NaN", "Infinity", "0x1F", "-",
  "\r\n", " ", TOKEN, CLIENT_SECRET, '"code":', '"message":', '"contextId":',
}
local JSONISH = '{}[]:,"\\ 0123456789.eE+-truefalsn\r\n\t\0'

local function random_bytes()
  local out = {}
  for i = 1, rand(65) - 1 do
    if rand(2) == 1 then
      out[i] = string.char(rand(256) - 1)
    else
      local k = rand(#JSONISH)
      out[i] = JSONISH:sub(k, k)
    end
  end
  return table.concat(out)
end

local KEYS = { "message", "code", "contextId", "status", "details", "errors", "organization",
  "id", "name", "authorizedScope", "OAuthClient", "clonedUser", "", "\0", "\255" }

local function random_value(depth)
  local r = rand(depth > 6 and 6 or 10)
  if r == 1 then return { raw = "null" }
  elseif r == 2 then return { raw = pick { "true", "false" } }
  elseif r == 3 then return { raw = pick { "0", "-3", "2.5", "1e308", "1e400", "12345678901234567890" } }
  elseif r == 4 then return pick { "", "x", TOKEN, CLIENT_SECRET, "a\r\nb", "\0", "\255\254", "caf\195\169" }
  elseif r == 5 then return { raw = pick(WRONG) }
  elseif r <= 8 then
    local o = {}
    for i = 1, rand(5) - 1 do o[i] = { pick(KEYS), random_value(depth + 1) } end
    return obj(o)
  else
    local a = {}
    for i = 1, rand(5) - 1 do a[i] = random_value(depth + 1) end
    return arr(a)
  end
end

local function random_document()
  local o = {}
  for i = 1, rand(6) - 1 do o[i] = { pick(KEYS), random_value(1) } end
  return to_text(obj(o))
end

local function nest(text)
  local n = rand(3) == 1 and rand(10) + 60 or rand(100)
  if rand(2) == 1 then return string.rep("[", n) .. text .. string.rep("]", n) end
  return string.rep('{"message":', n) .. text .. string.rep("}", n)
end

local function mutate(text)
  for _ = 1, rand(4) do
    local len = #text
    local at = rand(len + 1) - 1 -- 0..len
    local m = rand(9)
    if m == 1 and len > 0 then -- flip a byte
      text = text:sub(1, at) .. string.char(rand(256) - 1) .. text:sub(at + 2)
    elseif m == 2 then -- truncate
      text = text:sub(1, at)
    elseif m == 3 or m == 4 then -- insert
      text = text:sub(1, at) .. pick(INSERTS) .. text:sub(at + 1)
    elseif m == 5 then -- delete a span
      text = text:sub(1, at) .. text:sub(at + rand(20) + 1)
    elseif m == 6 then -- duplicate a span
      text = text:sub(1, at) .. text:sub(at + 1, at + rand(40)) .. text:sub(at + 1)
    elseif m == 7 then
      text = nest(text)
    elseif m == 8 then -- a number grows huge
      text = text:gsub("%d+", function(d)
        if rand(3) == 1 then return d .. string.rep("9", rand(400)) end
      end)
    else -- a value becomes null
      text = text:gsub(':%s*("[^"]*")', function(v)
        if rand(3) == 1 then return ":null" end
        return ":" .. v
      end)
    end
  end
  return text
end

local TOKEN_INFO_TEXT = to_text(token_info())
local ERROR_BODY_TEXT = to_text(error_body())

local function random_body(fixed)
  local r = rand(10)
  if r <= 5 then return "mutated", mutate(pick { TOKEN_INFO_TEXT, ERROR_BODY_TEXT }) end
  if r == 6 then return "mutated wrong type", mutate(pick(fixed)) end
  if r <= 8 then return "random JSON", random_document() end
  if r == 9 then return "random JSON, mutated", mutate(random_document()) end
  return "random bytes", random_bytes()
end

---------------------------------------------------------------------------
-- The properties, checked on every case; the first counterexample of each
-- is kept.

local function userdata_in(v, seen)
  if type(v) == "userdata" then return true end
  if type(v) ~= "table" or seen[v] then return false end
  seen[v] = true
  for k, e in pairs(v) do
    if k == cjson.null or e == cjson.null or userdata_in(k, seen) or userdata_in(e, seen) then
      return true
    end
  end
  return false
end

-- A float that should have been made an integer (Lua 5.3+).
local function whole_float_in(v, seen)
  if type(v) == "number" then return math.type ~= nil and math.type(v) == "float" and math.tointeger(v) ~= nil end
  if type(v) ~= "table" or seen[v] then return false end
  seen[v] = true
  for _, e in pairs(v) do if whole_float_in(e, seen) then return true end end
  return false
end

-- An array whose nulls left holes: it must close up into a sequence.
local function holes_in(v, seen)
  if type(v) ~= "table" or seen[v] then return false end
  seen[v] = true
  local n = 0
  for k in pairs(v) do if type(k) == "number" then n = n + 1 end end
  if n ~= #v then return true end
  for _, e in pairs(v) do if holes_in(e, seen) then return true end end
  return false
end

local function check_decode(body)
  local ok, value, err = pcall(json.decode_object, body)
  if not ok then return "raised", "raised: " .. tostring(value) end
  if type(value) == "table" then
    if userdata_in(value, {}) then return "null", "the table holds cjson.null (or other userdata)" end
    if whole_float_in(value, {}) then return "integer", "a whole number is still a float" end
    if holes_in(value, {}) then return "holes", "an array is not a sequence" end
    return "table"
  end
  if value ~= nil or type(err) ~= "string" then
    return "shape", "returned " .. tostring(value) .. ", " .. tostring(err)
  end
  return "nil"
end

local function contains(s, secret)
  return type(s) == "string" and s:find(secret, 1, true) ~= nil
end

local STATUSES = { 301, 302, 400, 401, 403, 404, 409, 413, 415, 429, 500, 502, 503, 504 }

local function check_error(body)
  local res = {
    status = pick(STATUSES),
    body = body,
    correlation_id = rand(2) == 1 and "hdr-5f0c3a9e" or nil,
    retry_after = rand(3) == 1 and rand(120) or nil,
  }
  local ok, e = pcall(errors.from_response, res, SECRETS)
  if not ok then return { error_raised = "raised: " .. tostring(e) } end
  local found = {}
  if not errors.is(e) then found.kind = "not an error object: " .. tostring(e) return found end
  if e.kind ~= "http" then found.kind = "kind is " .. tostring(e.kind) end
  if e.status ~= res.status then found.kind = "status " .. tostring(e.status) end
  if type(e.message) ~= "string" then found.kind = "message " .. tostring(e.message) end
  for _, field in ipairs { "code", "correlation_id" } do
    if e[field] ~= nil and type(e[field]) ~= "string" then
      found.kind = field .. " is a " .. type(e[field])
    end
  end
  local okp, line = pcall(tostring, e)
  if not okp or type(line) ~= "string" then
    found.error_raised = "tostring raised: " .. tostring(line)
    return found
  end
  if line:find("[\r\n]") then found.lines = "printed over several lines: " .. line end
  if line:find("%c") then found.control = "printed with a control character: " .. line end
  for _, secret in ipairs(SECRETS) do
    for _, field in ipairs { "message", "code", "correlation_id" } do
      if contains(e[field], secret) then
        found.secret = string.format("the %s shows the secret %q: %s", field, secret, line)
      end
    end
    if not found.secret and contains(line, secret) then
      found.secret = string.format("printed with the secret %q: %s", secret, line)
    end
  end
  return found
end

local results -- computed once, shared by the tests below

local function run()
  if results then return results end
  local fixed = wrong_type_cases()
  results = { first = {}, counts = {}, kinds = {}, bodies = 0, calls = 0 }
  local function note(property, case, origin, body, message)
    results.counts[property] = (results.counts[property] or 0) + 1
    if not results.first[property] then
      results.first[property] = string.format("case %d (%s), body %q: %s", case, origin,
        #body > 300 and body:sub(1, 300) .. "..." or body, message)
    end
  end
  local started = os.clock()
  local total = #fixed + CASES
  local case = 0
  while case < total do
    case = case + 1
    local origin, body
    if case <= #fixed then
      origin, body = "wrong type", fixed[case]
    else
      origin, body = random_body(fixed)
    end
    local outcome, message = check_decode(body)
    results.kinds[outcome] = (results.kinds[outcome] or 0) + 1
    if message then note(outcome, case, origin, body, message) end
    for property, m in pairs(check_error(body)) do note(property, case, origin, body, m) end
    results.bodies = results.bodies + 1
    results.calls = results.calls + 2
    if os.clock() - started > SECONDS then break end
  end
  results.seconds = os.clock() - started
  print(string.format(
    "\ndecode fuzz on %s: seed %d, %d bodies (%d fixed wrong-type cases + %d random), " ..
    "%d calls in %.1f s CPU; decode_object: %d tables, %d nil + message",
    jit and jit.version or _VERSION, SEED, results.bodies, #fixed, results.bodies - #fixed,
    results.calls, results.seconds, results.kinds.table or 0, results.kinds["nil"] or 0))
  for property, n in pairs(results.counts) do
    print(string.format("  %s: %d cases, first: %s", property, n, results.first[property]))
  end
  return results
end

local function holds(property)
  local r = run()
  assert(r.first[property] == nil, r.first[property])
end

describe("decoding fuzz", function()
  it("covers tens of thousands of bodies", function()
    local r = run()
    assert.is_true(r.bodies >= 10000 or r.seconds > SECONDS,
      "only " .. r.bodies .. " bodies in " .. r.seconds .. " s")
    assert.is_true((r.kinds.table or 0) > 1000, "too few bodies decode to an object")
    assert.is_true((r.kinds["nil"] or 0) > 1000, "too few bodies fail to decode")
  end)

  it("decodes the unmutated TokenInfo and ErrorBody", function()
    local info = assert(json.decode_object(TOKEN_INFO_TEXT))
    assert.equal("Acme Contact Center", info.organization.name)
    assert.equal(86399, info.expiresIn)
    local e = errors.from_response({ status = 401, body = ERROR_BODY_TEXT }, SECRETS)
    assert.equal("bad.credentials", e.code)
    assert.equal("Invalid login credentials for token [REDACTED]", e.message)
  end)

  describe("json.decode_object", function()
    it("never raises", function() holds("raised") end)
    it("returns a table, or nil and a message", function() holds("shape") end)
    it("never leaves cjson.null in the table", function() holds("null") end)
    it("gives whole numbers as integers (Lua 5.3+)", function() holds("integer") end)
    it("closes arrays up into sequences", function() holds("holes") end)
  end)

  describe("errors.from_response", function()
    it("never raises, and returns an http error with the status and string fields", function()
      holds("error_raised")
      holds("kind")
    end)
    it("prints as one line", function() holds("lines") end)
    it("prints without control characters", function() holds("control") end)
    it("never shows a secret, even one the body holds", function() holds("secret") end)
  end)
end)
