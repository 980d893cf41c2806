-- verify, idle_timeout and set_idle_timeout against the fake, and what a
-- client remembers of its last response.
local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"

describe("the rest of the Tokens resource", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  local function client(token, extra)
    local opts = { base_url = srv.http_url, access_token = token, timeout = 5 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return tokens.new(opts)
  end

  describe("verify()", function()
    it("is true for a valid token, with a HEAD request", function()
      assert.is_true(client("tok-alice"):verify())
      local e = fake.log()[1]
      assert.equal("HEAD", e.method)
      assert.equal("/api/v2/tokens/me", e.request_uri)
      assert.equal("Bearer tok-alice", e.headers.authorization)
    end)

    it("is false with an error when the server says 401", function()
      local ok, err = client("tok-nobody"):verify()
      assert.is_false(ok)
      assert.equal("http", err.kind)
      assert.equal(401, err.status)
      assert.is_string(err.correlation_id)
    end)

    it("is false for a token just revoked", function()
      local c = client("tok-bob-1")
      assert.is_true(c:verify())
      assert.is_true(c:revoke_me())
      assert.is_false((c:verify()))
    end)

    it("is nil with an error for any other failure", function()
      fake.fault { kind = "status", status = 500 }
      local ok, err = client("tok-alice", { retry = false }):verify()
      assert.is_nil(ok)
      assert.equal(500, err.status)
      local refused, err2 = tokens.new({ base_url = "http://127.0.0.1:1", access_token = "tok-alice",
        retry = false }):verify()
      assert.is_nil(refused)
      assert.equal("network", err2.kind)
    end)

    it("takes a per-call token, as an nginx gate does", function()
      local c = tokens.new { base_url = srv.http_url }
      assert.is_true(c:verify { access_token = "tok-alice" })
      assert.is_false((c:verify { access_token = "tok-nobody" }))
    end)
  end)

  describe("idle_timeout()", function()
    it("reads the organization's setting", function()
      local t, err = client("tok-admin"):idle_timeout()
      assert.is_nil(err)
      assert.equal(900, t.idleTokenTimeoutSeconds)
      assert.is_true(t.enableIdleTokenTimeout)
      local e = fake.log()[1]
      assert.equal("GET", e.method)
      assert.equal("/api/v2/tokens/timeout", e.request_uri)
    end)
  end)

  describe("set_idle_timeout()", function()
    local full = {
      idleTokenTimeoutSeconds = 1800, enableIdleTokenTimeout = true,
      inactivityTimeoutUnit = "Minutes", inactivityTimeoutGroupsEnabled = true,
      inactivityTimeoutGroupBundles = {
        { priority = 1, timeoutSeconds = 600, inactivityTimeoutUnit = "Minutes", groups = { "g-agents" } },
        { priority = 2, timeoutSeconds = 7200, inactivityTimeoutUnit = "Hours", groups = {} },
      },
    }

    it("PUTs every field as JSON and returns the stored setting", function()
      local admin = client("tok-admin")
      local t, err = admin:set_idle_timeout(full)
      assert.is_nil(err)
      assert.equal(1800, t.idleTokenTimeoutSeconds)
      assert.equal("Minutes", t.inactivityTimeoutUnit)
      assert.is_true(t.inactivityTimeoutGroupsEnabled)
      assert.same({ "g-agents" }, t.inactivityTimeoutGroupBundles[1].groups)
      assert.equal(7200, t.inactivityTimeoutGroupBundles[2].timeoutSeconds)
      local e = fake.log()[1]
      assert.equal("PUT", e.method)
      assert.equal("/api/v2/tokens/timeout", e.request_uri)
      assert.equal("application/json", e.headers["content-type"])
      assert.matches('"groups":%[%]', e.body)
      assert.equal(1800, assert(admin:idle_timeout()).idleTokenTimeoutSeconds)
    end)

    it("returns the API's 400 for an out-of-range value as nil, err", function()
      for _, seconds in ipairs { 60, 28801 } do
        local t, err = client("tok-admin"):set_idle_timeout { idleTokenTimeoutSeconds = seconds }
        assert.is_nil(t)
        assert.equal("http", err.kind)
        assert.equal(400, err.status)
        assert.equal("bad.request", err.code)
        assert.matches("idleTokenTimeoutSeconds", err.message)
      end
    end)

    it("needs directory:organization:admin", function()
      local t, err = client("tok-alice"):set_idle_timeout { enableIdleTokenTimeout = false }
      assert.is_nil(t)
      assert.equal(403, err.status)
      assert.equal("missing.permissions", err.code)
    end)

    it("raises at the caller for a malformed setting and sends nothing", function()
      local admin = client("tok-admin")
      local ok, err = pcall(function() admin:set_idle_timeout { idleTokenTimeoutSecs = 900 } end)
      assert.is_false(ok)
      assert.matches("^spec/resource_spec%.lua:%d+: genesys%.tokens: timeout: unknown field 'idleTokenTimeoutSecs'", err)
      assert.error_matches(function() admin:set_idle_timeout(900) end, "timeout must be a table, got number")
      assert.error_matches(function() admin:set_idle_timeout() end, "timeout must be a table, got nil")
      assert.equal(0, #fake.log())
    end)
  end)

  describe("last_response()", function()
    it("is nil before the first response", function()
      assert.is_nil(client("tok-admin"):last_response())
    end)

    it("gives the status, correlation id and rate-limit headers of the last response", function()
      local c = client("tok-admin")
      assert(c:me())
      assert(c:me())
      local last = c:last_response()
      assert.equal(200, last.status)
      assert.equal("GET", last.method)
      assert.equal(srv.http_url .. "/api/v2/tokens/me", last.url)
      assert.equal(fake.log()[2].correlation_id, last.correlation_id)
      assert.equal(300, last.ratelimit.allowed)
      assert.equal(2, last.ratelimit.count)
      assert.is_number(last.ratelimit.reset)
      assert.equal(1, last.attempts)
      last.status = 0
      assert.equal(200, c:last_response().status, "a copy, not the client's own table")
    end)

    it("after a TokenInfo the core decoded: the same fields, read from the core only when asked", function()
      local c = client("tok-admin", { timeout = 0.3 })
      local info = assert(c:me())
      assert.is_table(info.organization)
      local last = c:last_response()
      assert.same({ "GET", srv.http_url .. "/api/v2/tokens/me", 200, 1, fake.log()[1].correlation_id, 300, 1 },
        { last.method, last.url, last.status, last.attempts, last.correlation_id, last.ratelimit.allowed,
          last.ratelimit.count })
      assert.is_nil(last.body)
      -- A later call that gets no response at all leaves it as it was.
      fake.fault { kind = "delay", seconds = 1 }
      local none, err = c:me { preserve_idle_ttl = true }
      assert.is_nil(none)
      assert.equal("timeout", err.kind)
      assert.same(last, c:last_response())
      -- ...and a later response replaces it.
      assert.is_true(c:verify())
      assert.equal("HEAD", c:last_response().method)
      assert(c:me())
      assert.equal("GET", c:last_response().method)
      assert.equal(4, c:last_response().ratelimit.count) -- the one that timed out counted too
    end)

    it("keeps Retry-After of a 429 that was given up on", function()
      fake.fault { kind = "429", retry_after = 60 }
      local c = client("tok-admin")
      local _, err = c:me()
      assert.equal(60, err.retry_after)
      assert.equal(429, c:last_response().status)
      assert.equal(60, c:last_response().retry_after)
    end)

    it("the module-level one follows the default client", function()
      tokens.configure { base_url = srv.http_url, access_token = "tok-admin" }
      assert(tokens.me())
      assert.equal(200, tokens.last_response().status)
      assert.is_true(tokens.verify())
      assert.equal("HEAD", tokens.last_response().method)
      assert.equal(900, assert(tokens.idle_timeout()).idleTokenTimeoutSeconds)
      assert.equal(1200, assert(tokens.set_idle_timeout { idleTokenTimeoutSeconds = 1200 }).idleTokenTimeoutSeconds)
      tokens.configure { base_url = "http://127.0.0.1:1" }
    end)
  end)
end)
