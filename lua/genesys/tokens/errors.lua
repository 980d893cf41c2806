-- The error value every call returns as its second result: a table with
-- kind, status, code, message, correlation_id and retry_after, printing as
-- one line. Never holds an access token or a client secret.
local json = require "genesys.tokens.json"

local errors = {}

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
function errors.shown(value)
  local s = tostring(value)
  local cut = #s > 64 and s:sub(1, 64) .. "..." or s
  return (cut:gsub("[%c\128-\255]", function(c) return ("\\%03d"):format(c:byte()) end))
end

--- True when `value` is one of our error objects.
function errors.is(value)
  return getmetatable(value) == Error
end

-- A secret is replaced where it stands whole, not inside a word: a short
-- one ("t") leaves "than" alone. One of 16 bytes or more cannot be there by
-- accident and goes wherever it is.
local ALWAYS = 16

local function glued(text, i)
  return i >= 1 and i <= #text and text:sub(i, i):find("%w") ~= nil
end

local function replace(text, secret)
  local out, from = nil, 1
  local i, j = text:find(secret, 1, true)
  while i do
    if #secret >= ALWAYS or not (glued(text, i - 1) or glued(text, j + 1)) then
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

-- Removes every secret in `secrets` (a list of strings) from `text`, also
-- as a JSON string spells it ("/" as "\/"): a log entry may show a body.
local function redact(text, secrets)
  if type(text) ~= "string" or not secrets then return text end
  local present
  for _, secret in ipairs(secrets) do
    if #secret > 0 then
      if text:find(secret, 1, true) then
        present = present or {}
        present[#present + 1] = secret
      end
      if secret:find("/", 1, true) then
        local escaped = secret:gsub("/", "\\/")
        if text:find(escaped, 1, true) then
          present = present or {}
          present[#present + 1] = escaped
        end
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
function errors.from_failure(kind, code, message, secrets)
  return errors.new({ kind = kind, code = code, message = message }, secrets)
end

--- The error for an HTTP response that is not a success: the platform's
-- ErrorBody when the body is one, the status alone otherwise.
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
