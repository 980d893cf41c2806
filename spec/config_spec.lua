-- What a real deployment configures: a proxy with credentials, a gateway
-- with path prefixes, default headers and a user agent; and the log.
local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"

describe("deployment configuration", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  it("goes through an authenticating proxy, credentials in the proxy URL", function()
    local proxy = srv.proxy_url:gsub("^http://", "http://puser:ppass@")
    local c = tokens.new { base_url = srv.http_url, access_token = "tok-alice", proxy = proxy }
    local info = assert(c:me())
    assert.equal("Acme Corp", info.organization.name)
    local e = fake.log()[1]
    assert.equal("proxy", e.server)
    assert.is_true(e.proxied)
    assert.equal("Basic cHVzZXI6cHBhc3M=", e.headers["proxy-authorization"])
    assert.equal("Bearer tok-alice", e.headers.authorization)
  end)

  -- A child process, with `env` in its environment, makes a client with no
  -- proxy option and calls me(); returns what fake.log() saw.
  local function me_in_environment(env)
    local LUA = os.getenv("LUA") or "lua5.4"
    local script = ([[local t = require "genesys.tokens"
      assert(t.new { base_url = %q, access_token = "tok-alice", retry = false }:me())]]):format(srv.http_url)
    local ok = os.execute(("env -u http_proxy -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY "
      .. "-u no_proxy -u NO_PROXY %s LUA_PATH='%s' LUA_CPATH='%s' %s -e '%s'"):format(env, package.path,
      package.cpath, LUA, script:gsub("'", [['"'"']])))
    assert(ok == true or ok == 0, "the child failed")
    return fake.log()
  end

  it("takes a proxy from libcurl's environment variables, read when the client is made", function()
    local proxy = srv.proxy_url:gsub("^http://", "http://puser:ppass@")
    for _, name in ipairs { "http_proxy", "all_proxy", "ALL_PROXY" } do
      fake.reset()
      local e = me_in_environment(name .. "=" .. proxy)[1]
      assert.equal("proxy", e.server, name)
      assert.equal("Basic cHVzZXI6cHBhc3M=", e.headers["proxy-authorization"])
    end
    -- ...and leaves out the hosts that no_proxy names, and does without one
    -- when there is none (or it is empty), or only HTTP_PROXY, which libcurl
    -- does not read.
    for _, env in ipairs { "http_proxy=" .. proxy .. " no_proxy=127.0.0.1", "http_proxy=",
      "HTTP_PROXY=" .. proxy, "" } do
      fake.reset()
      local log = me_in_environment(env)
      assert.equal(1, #log, env)
      assert.not_equal("proxy", log[1].server, env)
    end
  end)

  it("a proxy refusing our credentials is an http 407, the password in no error", function()
    local proxy = srv.proxy_url:gsub("^http://", "http://puser:wrong-pw@")
    local c = tokens.new { base_url = srv.http_url, access_token = "tok-alice", proxy = proxy, retry = false }
    local info, err = c:me()
    assert.is_nil(info)
    assert.equal(407, err.status)
    assert.not_matches("wrong%-pw", tostring(err))
  end)

  it("a proxy URL libcurl cannot use: its password in no error and no log entry", function()
    for _, proxy in ipairs { "htp://admin:Sup3rS3cret@127.0.0.1:3128", "http://admin:Sup3rS3cret@127.0.0.1:99999" } do
      local entries = {}
      local c = tokens.new { base_url = srv.http_url, access_token = "tok-alice", proxy = proxy,
        retry = { max_attempts = 2, base_delay = 0.01 }, log_level = "trace",
        logger = function(_, e) entries[#entries + 1] = e end }
      local info, err = c:me()
      assert.is_nil(info, proxy)
      assert.not_matches("Sup3rS3cret", tostring(err.message))
      assert.is_true(#entries >= 1)
      for _, e in ipairs(entries) do
        for k, v in pairs(e) do
          if type(v) == "string" then assert.not_matches("Sup3rS3cret", v, nil, k) end
        end
      end
      c:close()
    end
  end)

  it("logs in and calls through a gateway's path prefixes", function()
    local port = tonumber(srv.http_url:match(":(%d+)$"))
    local c = tokens.new { gateway = { host = "127.0.0.1", port = port, protocol = "http",
      api_path = "/gw/api", login_path = "/gw/login" }, client_id = "cc-admin-id", client_secret = "cc-admin-secret" }
    assert(c:me())
    local log = fake.log()
    assert.equal("/gw/login/oauth/token", log[1].request_uri)
    assert.equal("login", log[1].gateway)
    assert.equal("/gw/api/api/v2/tokens/me", log[2].request_uri)
    assert.equal("api", log[2].gateway)
  end)

  it("sends the same default headers and user agent on the login and the API calls", function()
    local c = tokens.new { base_url = srv.http_url, client_id = "cc-admin-id", client_secret = "cc-admin-secret",
      headers = { ["X-Tenant"] = "acme" }, user_agent = "ops-tool/1.2" }
    assert(c:me())
    for _, e in ipairs(fake.log()) do
      assert.equal("acme", e.headers["x-tenant"])
      assert.matches("^ops%-tool/1%.2 genesys%-tokens/", e.headers["user-agent"])
    end
  end)
end)

describe("logging against the fake", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  local function logged_client(level, extra)
    local seen = {}
    local opts = { base_url = srv.http_url, client_id = "cc-admin-id", client_secret = "cc-admin-secret",
      log_level = level, logger = function(lvl, entry) seen[#seen + 1] = { level = lvl, entry = entry } end }
    for k, v in pairs(extra or {}) do opts[k] = v end
    local c = tokens.new(opts)
    c._sleep = function() end
    return c, seen
  end

  -- Every string anywhere in the entries, for looking for secrets.
  local function all_text(seen)
    local parts = {}
    local function walk(v)
      if type(v) == "table" then for k, x in pairs(v) do walk(k) walk(x) end
      elseif v ~= nil then parts[#parts + 1] = tostring(v) end
    end
    walk(seen)
    return table.concat(parts, "\n")
  end

  it("logs each attempt at debug level with method, URL, status, duration, correlation id, attempt", function()
    fake.fault { kind = "status", status = 503 }
    local c, seen = logged_client("debug")
    assert(c:me())
    assert.equal(3, #seen) -- the login, the 503, the retry
    local login, failed, ok = seen[1].entry, seen[2].entry, seen[3].entry
    assert.equal("POST", login.method)
    assert.equal(srv.http_url .. "/oauth/token", login.url)
    assert.equal("error", seen[2].level)
    assert.equal(503, failed.status)
    assert.equal(1, failed.attempt)
    assert.equal("debug", seen[3].level)
    assert.equal("GET", ok.method)
    assert.equal(srv.http_url .. "/api/v2/tokens/me", ok.url)
    assert.equal(200, ok.status)
    assert.equal(2, ok.attempt)
    assert.is_number(ok.duration)
    local log = fake.log()
    assert.equal(log[#log].correlation_id, ok.correlation_id)
  end)

  it("never shows the secret, the basic credentials or any token, even at trace with bodies", function()
    local c, seen = logged_client("trace", { log_bodies = true })
    assert(c:me())
    assert(c:me { access_token = "tok-alice" })
    fake.fault { kind = "status", status = 401, times = 1 }
    c:revoke_me { access_token = "tok-bob-1" }
    local text = all_text(seen)
    assert.not_matches("cc%-admin%-secret", text)
    assert.not_matches("Y2MtYWRtaW4taWQ6Y2MtYWRtaW4tc2VjcmV0", text) -- base64 of id:secret
    assert.not_matches("tok%-alice", text)
    assert.not_matches("tok%-bob%-1", text)
    for _, t in ipairs(fake.issued_tokens()) do
      assert.is_nil(text:find(t.token, 1, true), "an obtained token was logged")
    end
    assert.matches("%[REDACTED%]", text)
    assert.is_string(seen[#seen].entry.response_body)
  end)

  it("at error level reports only failures", function()
    fake.fault { kind = "status", status = 404 }
    local c, seen = logged_client("error")
    assert(c:me { access_token = "tok-alice" } == nil)
    assert(c:me { access_token = "tok-alice" })
    assert.equal(1, #seen)
    assert.equal(404, seen[1].entry.status)
  end)

  it("writes one line per attempt to stderr when no logger is given", function()
    local LUA = os.getenv("LUA") or "lua5.4"
    local script = ([[local t = require "genesys.tokens"
      local c = t.new { base_url = %q, access_token = "tok-alice", log_level = "debug" }
      assert(c:me())]]):format(srv.http_url)
    local p = assert(io.popen(("LUA_PATH='%s' LUA_CPATH='%s' %s -e '%s' 2>&1"):format(package.path, package.cpath,
      LUA, script:gsub("'", [['"'"']]))))
    local out = p:read("*a")
    p:close()
    local url = srv.http_url:gsub("%p", "%%%0") .. "/api/v2/tokens/me"
    assert.matches("^genesys%.tokens debug GET " .. url .. " 200 %d+ms attempt=1 correlation=%S+\n$", out)
    assert.not_matches("tok%-alice", out)
  end)
end)
