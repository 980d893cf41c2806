local log = require "genesys.tokens.log"

local function collecting(settings)
  local seen = {}
  settings.logger = function(level, entry) seen[#seen + 1] = { level = level, entry = entry } end
  return log.new(settings), seen
end

local OK = { method = "GET", url = "https://api.example/api/v2/tokens/me", status = 200,
  correlation_id = "c-1", body = '{"organization":{}}', ratelimit_count = 3, ratelimit_allowed = 300 }
local FAILED = { method = "DELETE", url = "https://api.example/api/v2/tokens/u", status = 503,
  correlation_id = "c-2", body = '{"message":"down for tok-secret"}' }
local BROKEN = { method = "GET", url = "https://api.example/api/v2/tokens/me", kind = "network",
  code = "CURLE_COULDNT_CONNECT", message = "refused" }

describe("logging", function()
  it("is off by default", function()
    assert.is_nil(log.new {})
    assert.is_nil(log.new { log_level = "none", logger = print })
    log.attempt(nil, { res = OK }) -- a no-op, no error
  end)

  it("at error level logs failed attempts only", function()
    local logger, seen = collecting { log_level = "error" }
    for _, res in ipairs { OK, FAILED, BROKEN } do log.attempt(logger, { res = res, attempt = 1, duration = 0.01 }) end
    assert.equal(2, #seen)
    assert.equal("error", seen[1].level)
    assert.equal(503, seen[1].entry.status)
    assert.equal("network", seen[2].entry.kind)
    assert.equal("CURLE_COULDNT_CONNECT", seen[2].entry.code)
  end)

  it("at debug level logs every attempt: method, URL, status, duration, correlation id, attempt", function()
    local logger, seen = collecting { log_level = "debug" }
    log.attempt(logger, { res = OK, attempt = 2, duration = 0.012 })
    assert.equal("debug", seen[1].level)
    assert.same({ method = "GET", url = OK.url, status = 200, duration = 0.012, attempt = 2,
      correlation_id = "c-1" }, seen[1].entry)
  end)

  it("at trace level adds headers, with Authorization always redacted", function()
    local logger, seen = collecting { log_level = "trace", log_request_headers = { ["X-Team"] = "edge" } }
    log.attempt(logger, { res = OK, attempt = 1, duration = 0 })
    local e = seen[1].entry
    assert.equal("[REDACTED]", e.request_headers.Authorization)
    assert.equal("edge", e.request_headers["X-Team"])
    assert.equal("c-1", e.response_headers["ININ-Correlation-Id"])
    assert.equal(300, e.response_headers["inin-ratelimit-allowed"])
    assert.is_nil(e.response_body)
  end)

  it("logs bodies only when asked, scrubbed of secrets; never a token response", function()
    local logger, seen = collecting { log_level = "debug", log_bodies = true }
    log.attempt(logger, { res = FAILED, attempt = 1, duration = 0, secrets = { "tok-secret" }, request_body = "{}" })
    assert.equal('{"message":"down for [REDACTED]"}', seen[1].entry.response_body)
    assert.equal("{}", seen[1].entry.request_body)
    log.attempt(logger, { res = { method = "POST", url = "https://login.example/oauth/token", status = 200,
      body = '{"access_token":"fresh"}' }, attempt = 1, duration = 0, is_login = true })
    assert.equal("[REDACTED]", seen[2].entry.response_body)
  end)

  it("scrubs secrets from every string, URL and message included", function()
    local logger, seen = collecting { log_level = "debug" }
    log.attempt(logger, { res = { method = "GET", url = "https://x/?t=s3cret", kind = "network",
      message = "s3cret refused" }, attempt = 1, duration = 0, secrets = { "s3cret" } })
    assert.equal("https://x/?t=[REDACTED]", seen[1].entry.url)
    assert.equal("[REDACTED] refused", seen[1].entry.message)
  end)

  it("survives a logger that raises", function()
    local logger = log.new { log_level = "debug", logger = function() error("logger broke") end }
    log.attempt(logger, { res = OK, attempt = 1, duration = 0 })
  end)
end)
