-- Request logging: one entry per attempt, given to `logger(level, entry)`
-- or written to stderr as one line. Secrets are redacted whatever the
-- level: the Authorization header never appears, and every string of an
-- entry is scrubbed of the access tokens and client secret in play.
local errors = require "genesys.tokens.errors"

local log = {}

local LEVELS = { none = 0, error = 1, debug = 2, trace = 3 }
log.LEVELS = LEVELS

local function line_of(level, e)
  local parts = { "genesys.tokens", level, e.method, e.url }
  parts[#parts + 1] = e.status and tostring(e.status) or (e.kind or "?")
  parts[#parts + 1] = ("%.0fms"):format((e.duration or 0) * 1000)
  parts[#parts + 1] = "attempt=" .. tostring(e.attempt)
  if e.correlation_id then parts[#parts + 1] = "correlation=" .. e.correlation_id end
  if e.message then parts[#parts + 1] = "message=" .. e.message end
  return (table.concat(parts, " "):gsub("%c", " "))
end

local function stderr_logger(level, entry)
  io.stderr:write(line_of(level, entry), "\n")
end

--- A logger for a client's settings, or nil when logging is off.
function log.new(settings)
  local threshold = LEVELS[settings.log_level or "none"]
  if threshold == 0 then return nil end
  return {
    threshold = threshold,
    sink = settings.logger or stderr_logger,
    bodies = settings.log_bodies == true,
    request_headers = settings.log_request_headers,
  }
end

local function scrub(value, secrets)
  if type(value) == "string" then return errors.redact(value, secrets) end
  if type(value) == "table" then
    local out = {}
    for k, v in pairs(value) do out[k] = scrub(v, secrets) end
    return out
  end
  return value
end

--- Logs one attempt. `a` holds: method, url, attempt, duration, res (the
-- core's result), request_body, secrets, is_login.
function log.attempt(logger, a)
  if not logger then return end
  local res = a.res
  local failed = res.kind ~= nil or (res.status or 0) >= 400
  local level = failed and "error" or "debug"
  if LEVELS[level] > logger.threshold then return end
  local e = {
    method = res.method, url = res.url, status = res.status,
    duration = a.duration, attempt = a.attempt, correlation_id = res.correlation_id,
    kind = res.kind, code = res.code, message = res.message,
  }
  if logger.threshold >= LEVELS.trace then
    local headers = { Authorization = "[REDACTED]", Accept = "application/json" }
    for k, v in pairs(logger.request_headers or {}) do headers[k] = v end
    e.request_headers = headers
    e.response_headers = {
      ["ININ-Correlation-Id"] = res.correlation_id, ["Retry-After"] = res.retry_after_raw,
      ["inin-ratelimit-count"] = res.ratelimit_count, ["inin-ratelimit-allowed"] = res.ratelimit_allowed,
      ["inin-ratelimit-reset"] = res.ratelimit_reset,
    }
  end
  if logger.bodies then
    e.request_body = a.request_body
    -- A token response is a credential: never logged, even when asked.
    e.response_body = a.is_login and res.body and "[REDACTED]" or res.body
  end
  e = scrub(e, a.secrets)
  -- A failing logger must not fail the call it reports on; Ctrl-C while it
  -- runs still stops the call.
  local ok, err = pcall(logger.sink, level, e)
  if not ok and errors.interrupted(err) then error(err, 0) end
end

return log
