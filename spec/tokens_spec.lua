-- The three Tokens calls end to end: our client -> libcurl -> the fake
-- Genesys Cloud in real nginx, asserting on what reached the server.
local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"

local seed = fake.seed
local users = seed.users

describe("against the fake Genesys Cloud", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  local function client(token, extra)
    local opts = { base_url = srv.http_url, access_token = token, timeout = 5 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return tokens.new(opts)
  end

  -- The log entries that reached the API listener.
  local function api_log()
    local out = {}
    for _, e in ipairs(fake.log()) do
      if e.server == "api" then out[#out + 1] = e end
    end
    return out
  end

  local function tokens_state(token)
    for _, t in ipairs(fake.state().tokens) do
      if t.token == token then return t end
    end
  end

  describe("me()", function()
    it("returns the caller's TokenInfo as a plain table", function()
      local info, err = client("tok-admin"):me()
      assert.is_nil(err)
      assert.same(seed.orgs.acme, info.organization)
      assert.same(seed.orgs.acme, info.homeOrganization)
      assert.same({ "admin", "oauth:token:delete" }, info.authorizedScope)
      assert.equal("2031-01-01T12:00:00.000Z", info.dateTokenIdles)
      assert.is_nil(info.clonedUser)
      local oc = info.OAuthClient
      assert.equal(seed.clients.admin_tool.id, oc.id)
      assert.equal("Acme Admin Tool", oc.name)
      assert.equal("CLIENT-CREDENTIALS", oc.authorizedGrantType)
      assert.equal("active", oc.state)
      assert.same(seed.clients.admin_tool.roleDivisions, oc.roleDivisions)
      assert.same(seed.orgs.acme, oc.organization)
      assert.is_nil(info.oAuthClient)
    end)

    it("reports a cloned user and its home organization", function()
      local info = assert(client("tok-cloned"):me())
      assert.same(seed.orgs.acme, info.organization)
      assert.same(seed.orgs.trustor, info.homeOrganization)
      assert.equal(seed.native_user_id, info.clonedUser.id)
      assert.equal(seed.orgs.trustor.id, info.clonedUser.organization.id)
    end)

    it("turns the API's JSON nulls into absent fields", function()
      local info = assert(client("tok-nulls"):me())
      assert.is_nil(info.clonedUser)
      assert.is_nil(info.dateTokenIdles)
      assert.is_nil(info.OAuthClient.dateToDelete)
      assert.is_nil(info.OAuthClient.modifiedBy)
      assert.equal("Legacy Integration", info.OAuthClient.name)
      assert.same({}, info.authorizedScope)
    end)

    it("gives the table lua-cjson decodes from the body, nulls removed, with or without a logger", function()
      local cjson = require "cjson"
      local function without_nulls(v)
        if type(v) ~= "table" then return v end
        local out = {}
        for k, x in pairs(v) do if x ~= cjson.null then out[k] = without_nulls(x) end end
        return out
      end
      for _, token in ipairs { "tok-admin", "tok-cloned", "tok-nulls" } do
        local c = client(token)
        local text = assert(c:me { raw = true })
        local expected = without_nulls(cjson.decode(text))
        local logged = client(token, { log_level = "trace", logger = function() end })
        assert.same(expected, assert(c:me()))
        assert.same(expected, assert(logged:me()))
      end
    end)

    it("returns a decode error for a 2xx body that is not JSON, with or without a logger", function()
      for _, opts in ipairs { {}, { log_level = "trace", logger = function() end } } do
        fake.fault { kind = "truncated_json" }
        local info, err = client("tok-admin", opts):me()
        assert.is_nil(info)
        assert.equal("decode", err.kind)
        assert.matches("invalid JSON", err.message)
      end
    end)

    it("sends GET /api/v2/tokens/me with the bearer token, JSON accept and our user agent", function()
      assert(client("tok-alice", { user_agent = "my-gate/2.0" }):me())
      local log = api_log()
      assert.equal(1, #log)
      assert.equal("GET", log[1].method)
      assert.equal("/api/v2/tokens/me", log[1].request_uri)
      assert.equal("Bearer tok-alice", log[1].headers.authorization)
      assert.equal("application/json", log[1].headers.accept)
      assert.matches("^my%-gate/2%.0 genesys%-tokens/%d+%.%d+%.%d+ libcurl/", log[1].headers["user-agent"])
    end)

    it("sends preserveIdleTTL=true only when asked", function()
      local c = client("tok-alice")
      assert(c:me { preserve_idle_ttl = true })
      assert(c:me { preserve_idle_ttl = false })
      assert(c:me())
      local log = api_log()
      assert.equal("/api/v2/tokens/me?preserveIdleTTL=true", log[1].request_uri)
      assert.equal("/api/v2/tokens/me", log[2].request_uri)
      assert.equal("/api/v2/tokens/me", log[3].request_uri)
    end)

    it("uses a per-call access_token instead of the client's", function()
      local c = client("tok-admin")
      local info = assert(c:me { access_token = "tok-cloned" })
      assert.same(seed.orgs.trustor, info.homeOrganization)
      assert.equal("Bearer tok-cloned", api_log()[1].headers.authorization)
      assert.same(seed.orgs.acme, assert(c:me()).homeOrganization)
    end)

    it("sends the default headers on every request", function()
      local c = client("tok-alice", { headers = { ["X-Team"] = "edge", ["X-Trace"] = "a b" } })
      assert(c:me())
      assert(c:me())
      for _, e in ipairs(api_log()) do
        assert.equal("edge", e.headers["x-team"])
        assert.equal("a b", e.headers["x-trace"])
      end
    end)

    it("returns an http error with the platform's body for an unknown token", function()
      local info, err = client("tok-nobody"):me()
      assert.is_nil(info)
      assert.equal("http", err.kind)
      assert.equal(401, err.status)
      assert.equal("bad.credentials", err.code)
      assert.equal("Invalid login credentials.", err.message)
      assert.matches("^%S+$", err.correlation_id)
      assert.matches("^genesys%.tokens: http 401 bad%.credentials: Invalid login credentials%. %[correlation id ",
        tostring(err))
      assert.not_matches("tok%-nobody", tostring(err))
    end)

    it("returns an auth error naming the variable to set when there is no token at all", function()
      local info, err = tokens.new { base_url = srv.http_url }:me()
      assert.is_nil(info)
      assert.equal("auth", err.kind)
      assert.matches("GENESYSCLOUD_ACCESS_TOKEN", err.message)
      assert.equal(0, #api_log())
    end)
  end)

  describe("revoke_me()", function()
    it("logs out only the calling token", function()
      local c = client("tok-bob-1")
      assert.is_true(c:revoke_me())
      local entry = api_log()[1]
      assert.equal("DELETE", entry.method)
      assert.equal("/api/v2/tokens/me", entry.request_uri)
      local info, err = c:me()
      assert.is_nil(info)
      assert.equal(401, err.status)
      assert(client("tok-bob-2"):me(), "the user's other token still works")
    end)

    it("fails with 401 for a token already revoked", function()
      local c = client("tok-bob-1")
      assert.is_true(c:revoke_me())
      local ok, err = c:revoke_me()
      assert.is_nil(ok)
      assert.equal("bad.credentials", err.code)
    end)
  end)

  describe("revoke(user_id)", function()
    it("revokes every token of the user", function()
      local admin = client("tok-admin")
      assert.is_true(admin:revoke(users.bob.id))
      local entry = api_log()[1]
      assert.equal("DELETE", entry.method)
      assert.equal("/api/v2/tokens/" .. users.bob.id, entry.request_uri)
      for _, t in ipairs { "tok-bob-1", "tok-bob-2" } do
        local info, err = admin:me { access_token = t }
        assert.is_nil(info, t)
        assert.equal(401, err.status)
      end
      assert(admin:me { access_token = "tok-alice" }, "other users are untouched")
      assert(admin:me(), "the caller is untouched")
    end)

    it("percent-encodes an awkward id as exactly one path segment", function()
      local admin = client("tok-admin")
      assert.is_true(admin:revoke(users.odd.id))
      assert.equal("/api/v2/tokens/odd%2Fuser%3Fid%231%20%C3%BC", api_log()[1].request_uri)
      assert.is_true(tokens_state("tok-odd").revoked)
    end)

    it("never sends an id that could reach another route", function()
      local admin = client("tok-admin")
      for _, bad in ipairs { "me", "ME", "timeout", ".", "..", "", "a\0b", "a\r\nb", "x\tb" } do
        assert.has_error(function() admin:revoke(bad) end)
      end
      for _, bad in ipairs { false, 42, {}, admin } do
        assert.error_matches(function() admin:revoke(bad) end, "user id must be a string")
      end
      assert.error_matches(function() admin:revoke() end, "user id must be a string, got nil")
      assert.equal(0, #api_log())
      assert(admin:me(), "the caller is still logged in")
    end)

    it("encodes ids with /, ?, #, .., spaces, %2F and non-ASCII without changing them", function()
      local admin = client("tok-admin")
      local cases = {
        ["a/b"] = "a%2Fb", ["a?b=1"] = "a%3Fb%3D1", ["a#b"] = "a%23b",
        ["../me"] = "..%2Fme", ["a b"] = "a%20b", ["%2F"] = "%252F",
        ["\195\188ser"] = "%C3%BCser", ["..."] = "...", ["a..b"] = "a..b",
        ["~user_1.x-y"] = "~user_1.x-y",
      }
      local ids = {}
      for id in pairs(cases) do ids[#ids + 1] = id end
      table.sort(ids)
      for _, id in ipairs(ids) do
        local ok, err = admin:revoke(id)
        assert.is_nil(ok, id)
        assert.equal(404, err.status, id)
        assert.equal("not.found", err.code, id)
      end
      local log = api_log()
      assert.equal(#ids, #log)
      for i, id in ipairs(ids) do
        assert.equal("/api/v2/tokens/" .. cases[id], log[i].request_uri)
      end
      assert(admin:me(), "none of them reached DELETE /api/v2/tokens/me")
    end)

    it("needs the oauth:token:delete permission", function()
      local ok, err = client("tok-alice"):revoke(users.bob.id)
      assert.is_nil(ok)
      assert.equal(403, err.status)
      assert.equal("missing.permissions", err.code)
      assert(client("tok-bob-1"):me(), "nothing was revoked")
    end)

    it("reports an unknown user as not.found", function()
      local ok, err = client("tok-admin"):revoke("00000000-0000-4000-8000-000000000000")
      assert.is_nil(ok)
      assert.equal("http", err.kind)
      assert.equal(404, err.status)
      assert.equal("not.found", err.code)
    end)
  end)

  describe("the module-level calls", function()
    after_each(function() tokens.configure { base_url = "http://127.0.0.1:1" } end)

    it("use the client set by configure", function()
      tokens.configure { base_url = srv.http_url, access_token = "tok-admin" }
      assert.equal(seed.clients.admin_tool.id, assert(tokens.me()).OAuthClient.id)
      assert.is_true(tokens.revoke(users.alice.id))
      assert.is_true(tokens.revoke_me { access_token = "tok-bob-1" })
      assert.is_true(tokens_state("tok-alice").revoked)
      assert.is_true(tokens_state("tok-bob-1").revoked)
      assert.is_falsy(tokens_state("tok-admin").revoked)
    end)

    it("configure closes the client it replaces", function()
      local first = tokens.configure { base_url = srv.http_url, access_token = "tok-admin" }
      tokens.configure { base_url = srv.http_url, access_token = "tok-alice" }
      assert.error_matches(function() first:me() end, "closed client")
      assert.same(seed.clients.web_app.id, assert(tokens.me()).OAuthClient.id)
    end)

    it("raise at the caller for misuse, naming the caller's line", function()
      -- pcall, not assert.error_matches: luassert strips the position.
      local function raised(f)
        local ok, err = pcall(f)
        assert.is_false(ok)
        return err
      end
      tokens.configure { base_url = srv.http_url, access_token = "tok-admin" }
      assert.matches("^spec/tokens_spec%.lua:%d+: genesys%.tokens: user id names another route",
        raised(function() tokens.revoke("me") end))
      assert.matches("^spec/tokens_spec%.lua:%d+: .*unknown call option 'bogus'",
        raised(function() tokens.me { bogus = 1 } end))
      assert.matches("^spec/tokens_spec%.lua:%d+: .*not visible ASCII",
        raised(function() tokens.me { access_token = "a\r\nb" } end))
      assert.matches("^spec/tokens_spec%.lua:%d+: .*must be a boolean",
        raised(function() tokens.me { preserve_idle_ttl = "yes" } end))
      assert.matches("^spec/tokens_spec%.lua:%d+: .*call options must be a table",
        raised(function() tokens.me "tok" end))
      assert.matches("^spec/tokens_spec%.lua:%d+: .*unknown option 'nope'",
        raised(function() tokens.new { nope = 1 } end))
      assert.matches("^spec/tokens_spec%.lua:%d+: .*must be a table",
        raised(function() tokens.configure(5) end))
      local c = tokens.new { base_url = srv.http_url, access_token = "tok-admin" }
      assert.matches("^spec/tokens_spec%.lua:%d+: .*relative path segment",
        raised(function() c:revoke("..") end))
      assert.matches("^spec/tokens_spec%.lua:%d+: .*unknown call option 'x'",
        raised(function() c:revoke_me { x = 1 } end))
      assert.equal(0, #api_log())
    end)
  end)

  describe("a client", function()
    it("keeps one connection alive across calls", function()
      local c = client("tok-admin")
      for _ = 1, 5 do assert(c:me()) end
      local conns = {}
      for _, e in ipairs(api_log()) do conns[e.connection] = true end
      local n = 0
      for _ in pairs(conns) do n = n + 1 end
      assert.equal(1, n)
    end)

    it("does not show its token when printed, and refuses use after close", function()
      local c = client("tok-admin")
      assert.not_matches("tok%-admin", tostring(c))
      for _, v in pairs(c) do assert.not_equal("tok-admin", v) end
      c:close()
      c:close()
      assert.matches("closed", tostring(c))
      assert.error_matches(function() c:me() end, "attempt to use a closed client")
      assert.error_matches(function() c.me({}) end, "must be called as a method")
    end)
  end)
end)
