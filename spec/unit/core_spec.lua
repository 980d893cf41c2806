-- The C binding on its own: construction, argument checks, lifecycle.
local core = require "genesys.tokens.core"

local function new_core(extra)
  local opts = { base_url = "http://127.0.0.1:1", timeout_ms = 1000 }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return core.new(opts)
end

describe("genesys.tokens.core", function()
  it("names this library, its version and libcurl's", function()
    assert.matches("^genesys%-tokens/%d+%.%d+%.%d+ libcurl/%d+%.%d+", core.user_agent)
    assert.equal(core._VERSION, core.user_agent:match("^genesys%-tokens/(%S+)"))
  end)

  it("raises on bad construction options", function()
    assert.error_matches(function() core.new() end, "table expected")
    assert.error_matches(function() core.new {} end, "'base_url' is required")
    assert.error_matches(function() core.new { base_url = 1 } end, "'base_url' must be a string")
    assert.error_matches(function() new_core { timeout_ms = "1" } end, "'timeout_ms' must be a number")
    assert.error_matches(function() new_core { timeout_ms = -1 } end, "'timeout_ms' is out of range")
    assert.error_matches(function() new_core { max_body = 0 / 0 } end, "'max_body' is out of range")
    assert.error_matches(function() new_core { headers = "x" } end, "table expected")
    assert.error_matches(function() new_core { headers = { 1 } } end, "'headers' must hold strings")
  end)

  it("judges user ids as one path segment", function()
    assert.is_nil(core.user_id_problem("6e1f4f3a-1c2b-4c55-9e7a-0a1b2c3d4e5f"))
    assert.is_nil(core.user_id_problem("a/b?c#d %2F ü"))
    assert.is_nil(core.user_id_problem("..."))
    assert.is_nil(core.user_id_problem("meme"))
    assert.equal("user id is empty", core.user_id_problem(""))
    for _, route in ipairs { "me", "ME", "Me", "timeout", "TIMEOUT" } do
      assert.equal("user id names another route of the Tokens API", core.user_id_problem(route))
    end
    assert.equal("user id is a relative path segment", core.user_id_problem("."))
    assert.equal("user id is a relative path segment", core.user_id_problem(".."))
    for _, bad in ipairs { "a\0b", "a\r\nb", "\t", "x\127" } do
      assert.equal("user id contains a control character", core.user_id_problem(bad))
    end
    assert.equal("user id is too long", core.user_id_problem(string.rep("a", 1025)))
    assert.is_nil(core.user_id_problem(string.rep("a", 1024)))
  end)

  it("judges access tokens", function()
    assert.is_nil(core.token_problem("tok-ABC_123.x~+/="))
    assert.equal("access token is empty", core.token_problem(""))
    for _, bad in ipairs { "a b", "a\r\nb", "a\0", "\195\169" } do
      assert.matches("not visible ASCII", core.token_problem(bad))
    end
  end)

  it("refuses a bad id or token itself, even when the Lua layer is bypassed", function()
    local c = new_core()
    assert.error_matches(function() c:revoke("tok", "me") end, "another route")
    assert.error_matches(function() c:revoke("tok", "..") end, "relative path segment")
    assert.error_matches(function() c:revoke("tok", 42) end, "string expected")
    assert.error_matches(function() c:me("a\r\nX: 1") end, "not visible ASCII")
    assert.error_matches(function() c:revoke_me("") end, "empty")
    c:close()
  end)

  it("closes idempotently and refuses use afterwards", function()
    local c = new_core()
    assert.is_false(c:closed())
    assert.matches("^genesys%.tokens%.core%.client: ", tostring(c))
    c:close()
    c:close()
    assert.is_true(c:closed())
    assert.equal("genesys.tokens.core.client (closed)", tostring(c))
    assert.error_matches(function() c:me("tok") end, "closed")
    assert.error_matches(function() c.me({}, "tok") end, "genesys.tokens.core.client expected")
  end)

  it("frees clients the garbage collector finds, closed or not", function()
    for i = 1, 200 do
      local c = new_core { headers = { "X-N: " .. i } }
      if i % 2 == 0 then c:close() end
    end
    collectgarbage()
    collectgarbage()
    assert.is_false(new_core():closed())
  end)

  if _VERSION == "Lua 5.4" then
    it("closes a to-be-closed variable at the end of its scope (Lua 5.4)", function()
      local escaped
      local chunk = assert(load([[
        local core, opts = ...
        local c <close> = core.new(opts)
        return c
      ]]))
      escaped = chunk(core, { base_url = "http://127.0.0.1:1" })
      assert.is_true(escaped:closed())
    end)
  end
end)

describe("genesys.tokens.core clock", function()
  it("now() is monotonic seconds and sleep() waits at least that long", function()
    local a = core.now()
    core.sleep(0.05)
    local b = core.now()
    assert.is_true(b - a >= 0.05)
    core.sleep(0)
    core.sleep(-1)
    core.sleep(0 / 0)
    assert.is_true(core.now() >= b)
    assert.error_matches(function() core.sleep("x") end, "number expected")
  end)
end)

describe("genesys.tokens.core.header", function()
  it("reads a response header line as libcurl's are read: the fields kept, others nothing", function()
    assert.same({ "correlation_id", "5f0c-1" }, { core.header("ININ-Correlation-Id:  5f0c-1 \r\n") })
    assert.same({ "content_length", 12 }, { core.header("content-length: 12") })
    assert.same({ "ratelimit_allowed", 300 }, { core.header("Inin-RateLimit-Allowed: 300") })
    assert.same({ "ratelimit_reset", nil }, { core.header("inin-ratelimit-reset: -3") })
    assert.same({ "retry_after", 7, "7" }, { core.header("Retry-After: 7") })
    assert.same({ "retry_after", nil, "soon" }, { core.header("Retry-After: soon") })
    assert.same({ "retry_after", 0, "Sun, 06 Nov 1994 08:49:37 GMT" },
      { core.header("Retry-After: Sun, 06 Nov 1994 08:49:37 GMT") }) -- a date past: now
    local later = core.header("Retry-After: " .. os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 3600))
    assert.equal("retry_after", later)
    assert.is_nil(core.header("X-Other: 1"))
    assert.is_nil(core.header("HTTP/1.1 200 OK"))
  end)

  it("keeps apart what a control byte separated, and drops a value too long to keep whole", function()
    -- A tab between "a" and a short token must not glue them for the scrubbing.
    assert.same({ "correlation_id", "a tok-admin" }, { core.header("ININ-Correlation-Id: a\ttok-admin") })
    assert.same({ "correlation_id", "a b" }, { core.header("ININ-Correlation-Id: a\1\2 \127b\255") })
    assert.same({ "correlation_id", ("x"):rep(127) }, { core.header("ININ-Correlation-Id: " .. ("x"):rep(127)) })
    assert.same({ "correlation_id", nil }, { core.header("ININ-Correlation-Id: " .. ("x"):rep(128)) })
    -- A huge delay is capped; its text, too long to keep, is not kept.
    assert.same({ "retry_after", 1000000000000, nil }, { core.header("Retry-After: " .. ("9"):rep(70)) })
  end)

  it("answers with the header block limit both transports use", function()
    assert.equal(64 * 1024, core.header_block_max)
  end)
end)
