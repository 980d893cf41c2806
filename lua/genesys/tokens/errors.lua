--- The error value every call returns as its second result, after `nil`
-- (or `false` for `verify`'s 401): an `Error` table that prints as one
-- line. It never holds an access token or a client secret. The module is
-- also `tokens.errors`.
-- @module genesys.tokens.errors
-- @usage
-- local info, err = tokens.me()
-- if not info then
--   print(err)  --> genesys.tokens: http 401 bad.credentials: Invalid login credentials. [correlation id 5f0c...]
--   if err.kind == "http" and err.status == 401 then ... end
-- end
local json = require "genesys.tokens.json"

local errors = {}

--- An error object. `tostring(err)` (and `..`) gives one line: its kind,
-- status and code, message, Retry-After and correlation id (see the usage).
-- @table Error
-- @field kind what failed: `"http"` (a non-2xx answer), `"timeout"`,
-- `"network"`, `"tls"`, `"decode"` (a 2xx whose body is not a JSON object),
-- `"auth"` (no credentials, a refused login, or no usable token from it),
-- `"too_large"`,
-- `"blocked"` (an nginx phase where the call would block),
-- `"interrupted"` (Ctrl-C during a transfer in a coroutine, or in flight
-- in `revoke_many`); in `revoke_many` results also `"invalid"` and `"stopped"`
-- @field status the HTTP status, when there was a response
-- @field code the API's error code (`"not.found"`, ...), the OAuth error
-- code of a refused login (`"invalid_client"`), or a libcurl code name
-- (`"CURLE_COULDNT_CONNECT"`, ...); may be absent
-- @field message what went wrong, in words, on one line
-- @field correlation_id the body's `contextId`, else the
-- `ININ-Correlation-Id` header: quote it to Genesys support
-- @field retry_after seconds, when the server sent `Retry-After` (a 429)
local Error = {}
Error.__index = Error

-- One line, printable: a server's message cannot break a log line.
local function one_line(s)
  return (tostring(s):gsub("[%c]+", " "))
end

function Error.__tostring(e)
  local parts = { "genesys.tokens: " .. e.kind }
  if e.status then parts[#parts + 1] = tostring(e.status) end
  if e.code then parts[#parts + 1] = e.code end
  local line = table.concat(parts, " ")
  if e.message then line = line .. ": " .. one_line(e.message) end
  if e.retry_after then line = line .. " (retry after " .. e.retry_after .. " s)" end
  if e.correlation_id then line = line .. " [correlation id " .. e.correlation_id .. "]" end
  return line
end

function Error.__concat(a, b)
  return tostring(a) .. tostring(b)
end

--- A bad value as a message shows it: at most 64 bytes, control and
-- non-ASCII bytes escaped, so a 1 MiB or CR/LF-laden value cannot flood a
-- log or forge a line.
-- @local
function errors.shown(value)
  local s = tostring(value)
  local cut = #s > 64 and s:sub(1, 64) .. "..." or s
  return (cut:gsub("[%c\128-\255]", function(c) return ("\\%03d"):format(c:byte()) end))
end

--- True when `e`, an error caught by a pcall, is the interpreter's Ctrl-C
-- ("interrupted!", raised by lua.c's hook in whatever Lua code runs): the
-- library passes it on instead of swallowing it with a logger's error.
-- @local
function errors.interrupted(e)
  return type(e) == "string" and e:sub(-12) == "interrupted!"
end

--- Tells an error object from other values.
-- @param value anything
-- @treturn boolean `true` when `value` is an `Error` this library made
function errors.is(value)
  return getmetatable(value) == Error
end

-- A secret is replaced where it stands whole, not inside a word: a short
-- one ("t") leaves "than" alone. One of 16 bytes or more cannot be there by
-- accident and goes wherever it is.
local ALWAYS = 16

-- Whether the byte before position i glues to what follows: a letter or a
-- digit, but not the end of a JSON escape (\n, \u00e9) that a logged body
-- shows where a control character or more stood.
local function glued_before(text, i)
  if i < 1 or not text:sub(i, i):find("%w") then return false end
  if text:sub(i - 1, i - 1) == "\\" then return false end
  return not text:sub(math.max(1, i - 5), i):find("^\\u%x%x%x%x$")
end

local function glued_after(text, j)
  return j <= #text and text:sub(j, j):find("%w") ~= nil
end

local function replace(text, secret)
  local out, from = nil, 1
  local i, j = text:find(secret, 1, true)
  while i do
    if #secret >= ALWAYS or not (glued_before(text, i - 1) or glued_after(text, j + 1)) then
      out = out or {}
      out[#out + 1] = text:sub(from, i - 1)
      out[#out + 1] = "[REDACTED]"
      from = j + 1
      i, j = text:find(secret, from, true)
    else
      i, j = text:find(secret, i + 1, true)
    end
  end
  if not out then return text end
  out[#out + 1] = text:sub(from)
  return table.concat(out)
end

local function longest_first(a, b) return #a > #b end

-- The forms a secret can take in JSON text: \ and " escaped, and "/" too
-- (lua-cjson writes "\/").
local function json_forms(secret)
  local escaped = secret:gsub('[\\"]', "\\%0")
  local slashed = escaped:gsub("/", "\\/")
  return escaped ~= secret and escaped or nil, slashed ~= escaped and slashed or nil
end

local function add_if_in(text, form, present)
  if form and text:find(form, 1, true) then
    present = present or {}
    present[#present + 1] = form
  end
  return present
end

-- Removes every secret in `secrets` (a list of strings) from `text`, also
-- as JSON text spells it: a log entry may show a body.
local function redact(text, secrets)
  if type(text) ~= "string" or not secrets then return text end
  local present
  for _, secret in ipairs(secrets) do
    if #secret > 0 then
      present = add_if_in(text, secret, present)
      if secret:find('[\\"/]') then
        local escaped, slashed = json_forms(secret)
        present = add_if_in(text, escaped, present)
        present = add_if_in(text, slashed, present)
      end
    end
  end
  if not present then return text end
  table.sort(present, longest_first) -- a secret inside another must not cut it
  for _, secret in ipairs(present) do text = replace(text, secret) end
  return text
end
errors.redact = redact

--- A new error from its fields; `secrets` are scrubbed from the message.
-- @local
function errors.new(fields, secrets)
  local e = {
    kind = fields.kind,
    status = fields.status,
    code = redact(fields.code, secrets), -- a server can echo anything anywhere
    -- One line first, then scrubbed: a secret with a space in it must not
    -- reappear when CR/LF turn into spaces.
    message = fields.message and redact(one_line(fields.message), secrets),
    correlation_id = redact(fields.correlation_id, secrets),
    retry_after = fields.retry_after,
  }
  return setmetatable(e, Error)
end

--- The error for a transport failure: the core's kind, code and message.
-- @local
function errors.from_failure(kind, code, message, secrets)
  return errors.new({ kind = kind, code = code, message = message }, secrets)
end

--- The error for an HTTP response that is not a success: the platform's
-- ErrorBody when the body is one, the status alone otherwise.
-- @local
function errors.from_response(res, secrets)
  local body = res.body ~= "" and json.decode_object(res.body) or nil
  local fields = {
    kind = "http",
    status = res.status,
    correlation_id = res.correlation_id,
    retry_after = res.retry_after,
  }
  if body then
    if type(body.code) == "string" then fields.code = one_line(body.code) end
    if type(body.message) == "string" and body.message:find("%S") then fields.message = body.message end
    if type(body.contextId) == "string" and body.contextId ~= "" then
      fields.correlation_id = one_line(body.contextId)
    end
  end
  if not fields.message then
    if res.status >= 300 and res.status < 400 then
      fields.message = "redirect not followed"
    elseif res.body == "" then
      fields.message = "empty response body"
    else
      fields.message = "response body is not a platform error"
    end
  end
  return errors.new(fields, secrets)
end

return errors
