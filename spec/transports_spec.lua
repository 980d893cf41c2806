-- The same cases through both transports: libcurl in this process, and
-- nginx cosockets inside OpenResty (a content phase of the spec nginx).
-- Each case checks one outcome shape, so the transports must agree.
local fake = require "spec.support.fake"
local openresty = require "spec.support.openresty"
local outcome = require "spec.support.openresty.outcome"
local tokens = require "genesys.tokens"

local seed = fake.seed
local ODD_PATH = "/api/v2/tokens/odd%2Fuser%3Fid%231%20%C3%BC"

local function api_log()
  local out = {}
  for _, e in ipairs(fake.log()) do
    if e.server == "api" then out[#out + 1] = e end
  end
  return out
end

local function expect_error(o, kind, status, code)
  assert.is_nil(o.raised)
  assert.is_falsy(o.value)
  assert.is_table(o.err, "expected an error")
  assert.equal(kind, o.err.kind)
  if status then assert.equal(status, o.err.status) end
  if code then assert.equal(code, o.err.code) end
  assert.not_matches("tok%-admin", o.err.text)
end

-- An HTTP-date `seconds` from now.
local function http_date(seconds) return os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + seconds) end

-- name, fault(s), setup(srv) (queues faults, may return the call's args),
-- client options (a table or function(srv)), call, args, times (calls on
-- one client), check(outcome, srv, transport).
local CASES = {
  { name = "me returns the TokenInfo", call = "me", check = function(o)
    assert.equal("Acme Corp", o.value.organization.name)
    assert.equal("Acme Admin Tool", o.value.OAuthClient.name)
    assert.equal("/api/v2/tokens/me", api_log()[1].request_uri)
  end },
  { name = "JSON nulls become absent fields", client = { access_token = "tok-nulls" }, call = "me",
    check = function(o)
      assert.is_nil(o.value.clonedUser)
      assert.is_nil(o.value.dateTokenIdles)
      assert.equal("Legacy Integration", o.value.OAuthClient.name)
    end },
  { name = "preserveIdleTTL only when asked", call = "me", args = { { preserve_idle_ttl = true } },
    check = function(o)
      assert.is_table(o.value)
      assert.equal("/api/v2/tokens/me?preserveIdleTTL=true", api_log()[1].request_uri)
    end },
  { name = "a per-call token", call = "me", args = { { access_token = "tok-cloned" } }, check = function(o)
    assert.equal("Trustor Inc", o.value.homeOrganization.name)
    assert.equal("Bearer tok-cloned", api_log()[1].headers.authorization)
  end },
  { name = "401 for an unknown token", client = { access_token = "tok-nobody" }, call = "me",
    check = function(o)
      expect_error(o, "http", 401, "bad.credentials")
      assert.is_string(o.err.correlation_id)
    end },
  { name = "404 for an unknown user", call = "revoke", args = { "00000000-0000-4000-8000-000000000000" },
    check = function(o) expect_error(o, "http", 404, "not.found") end },
  { name = "revoke(user) revokes every token of the user", call = "revoke", args = { seed.users.bob.id },
    check = function(o)
      assert.is_true(o.value)
      assert.is_true(fake.state_token("tok-bob-1").revoked)
      assert.is_true(fake.state_token("tok-bob-2").revoked)
    end },
  { name = "an awkward user id travels as one encoded segment", call = "revoke", args = { seed.users.odd.id },
    check = function(o)
      assert.is_true(o.value)
      assert.equal(ODD_PATH, api_log()[1].request_uri)
    end },
  { name = "bad user ids raise and send nothing", call = "revoke", args = { "me" }, check = function(o)
    assert.matches("user id names another route", o.raised)
    assert.equal(0, #api_log())
  end },
  { name = "a user id with a NUL raises", call = "revoke", args = { "a\0b" }, check = function(o)
    assert.matches("control character", o.raised)
  end },
  { name = "revoke_me logs the token out", client = { access_token = "tok-bob-1" }, call = "revoke_me",
    check = function(o)
      assert.is_true(o.value)
      assert.equal("DELETE", api_log()[1].method)
      assert.is_true(fake.state_token("tok-bob-1").revoked)
    end },
  { name = "verify is true for a valid token", call = "verify", check = function(o)
    assert.is_true(o.value)
    assert.equal("HEAD", api_log()[1].method)
  end },
  { name = "verify is false for a 401", client = { access_token = "tok-nobody" }, call = "verify",
    check = function(o)
      assert.is_false(o.value)
      assert.equal(401, o.err.status)
    end },
  { name = "the idle timeout round-trips", call = "set_idle_timeout",
    args = { { idleTokenTimeoutSeconds = 1800, inactivityTimeoutGroupBundles = {
      { priority = 1, timeoutSeconds = 600, inactivityTimeoutUnit = "Minutes", groups = {} } } } },
    check = function(o)
      assert.equal(1800, o.value.idleTokenTimeoutSeconds)
      assert.equal(600, o.value.inactivityTimeoutGroupBundles[1].timeoutSeconds)
      assert.matches('"groups":%[%]', api_log()[1].body)
    end },
  { name = "a 400 from the timeout endpoint", call = "set_idle_timeout", args = { { idleTokenTimeoutSeconds = 5 } },
    check = function(o) expect_error(o, "http", 400, "bad.request") end },
  { name = "client-credentials login, then the call", client = { access_token = false,
    client_id = "cc-admin-id", client_secret = "cc-admin-secret" }, call = "me", check = function(o)
      assert.equal("Acme Admin Tool", o.value.OAuthClient.name)
      local log = api_log()
      assert.equal("/oauth/token", log[1].request_uri)
      assert.equal("Basic Y2MtYWRtaW4taWQ6Y2MtYWRtaW4tc2VjcmV0", log[1].headers.authorization)
      assert.equal("grant_type=client_credentials", log[1].body)
    end },
  { name = "a refused login is an auth error", client = { access_token = false,
    client_id = "cc-admin-id", client_secret = "wrong-secret" }, call = "me", check = function(o)
      expect_error(o, "auth", 401, "invalid_client")
      assert.not_matches("wrong%-secret", o.err.text)
    end },
  { name = "429 then success, after the Retry-After", fault = { kind = "429", retry_after = 1 }, call = "me",
    check = function(o)
      assert.is_table(o.value)
      local log = api_log()
      assert.equal(2, #log)
      assert.is_true(log[2].time - log[1].time >= 0.9)
    end },
  { name = "a 429 asking too much is returned with retry_after", fault = { kind = "429", retry_after = 120 },
    call = "me", check = function(o)
      expect_error(o, "http", 429, "too.many.requests.retry.after")
      assert.equal(120, o.err.retry_after)
    end },
  { name = "503 twice then success", fault = { kind = "status", status = 503, times = 2 }, call = "me",
    check = function(o)
      assert.is_table(o.value)
      assert.equal(3, #api_log())
    end },
  { name = "a trickling body times out", fault = { kind = "trickle", interval = 0.2 },
    client = { timeout = 0.6 }, call = "me",
    check = function(o) expect_error(o, "timeout", nil, "CURLE_OPERATION_TIMEDOUT") end },
  { name = "truncated JSON is a decode error", fault = { kind = "truncated_json" }, call = "me",
    check = function(o) expect_error(o, "decode", 200) end },
  { name = "a short body is a network error", fault = { kind = "short_body" }, client = { retry = false },
    call = "me", check = function(o) expect_error(o, "network", nil, "CURLE_PARTIAL_FILE") end },
  { name = "no reply is a network error", fault = { kind = "reset", times = 5 }, client = { retry = false },
    call = "me", check = function(o) expect_error(o, "network", nil, "CURLE_GOT_NOTHING") end },
  { name = "an HTML 502 is an http error", fault = { kind = "html", status = 502 }, client = { retry = false },
    call = "me", check = function(o)
      expect_error(o, "http", 502)
      assert.equal("response body is not a platform error", o.err.message)
    end },
  { name = "an oversize body with Content-Length", fault = { kind = "huge", bytes = 4 * 1024 * 1024 },
    client = { max_body = 65536 }, call = "me", check = function(o) expect_error(o, "too_large", nil, "too_large") end },
  { name = "an oversize chunked body", fault = { kind = "huge", bytes = 4 * 1024 * 1024, chunked = true },
    client = { max_body = 65536 }, call = "me", check = function(o) expect_error(o, "too_large") end },
  { name = "an oversize Content-Length is refused before the body", client = { max_body = 65536, timeout = 2 },
    fault = { kind = "trickle", interval = 0.5, content_length = 10 * 1024 * 1024 }, call = "me",
    check = function(o) expect_error(o, "too_large") end },
  { name = "a redirect is not followed", fault = { kind = "redirect" }, call = "me", check = function(o)
    expect_error(o, "http", 302)
    for _, e in ipairs(fake.log()) do assert.not_equal("other", e.server) end
  end },
  { name = "a refused connection", client = { base_url = "http://127.0.0.1:1", retry = false }, call = "me",
    check = function(o) expect_error(o, "network", nil, "CURLE_COULDNT_CONNECT") end },
  -- localhost, not 127.0.0.1: lua-nginx-module 0.10.23 checks only DNS names
  -- against a certificate, so an IP literal fails the host check there.
  { name = "https with the test CA", client = function(srv, transport)
      return { base_url = "https://localhost:" .. srv.tls_port, ca_file = transport == "curl" and srv.ca_file or nil }
    end, call = "me", check = function(o)
      assert.equal("Acme Corp", o.value.organization.name)
      assert.equal("https", api_log()[1].scheme)
    end },
  { name = "https to a port that speaks plain http is a tls error",
    client = function(srv) return { base_url = "https://127.0.0.1:" .. srv.other_port, retry = false } end,
    call = "me", check = function(o) expect_error(o, "tls") end },
  { name = "a 429 whose Retry-After is an HTTP-date is waited for until that date",
    setup = function()
      fake.fault { kind = "status", status = 429, headers = { ["Retry-After"] = http_date(2) } }
    end, call = "me", check = function(o)
      assert.equal("Acme Corp", o.value.organization.name)
      local log = api_log()
      assert.equal(2, #log)
      assert.is_true(log[2].time - log[1].finished >= 0.9, "retried after " .. (log[2].time - log[1].finished))
    end },
  { name = "a 429 whose Retry-After is a date an hour away gives up at once, retry_after set",
    setup = function()
      fake.fault { kind = "status", status = 429, headers = { ["Retry-After"] = http_date(3600) } }
    end, call = "me", check = function(o)
      expect_error(o, "http", 429)
      assert.is_true(o.err.retry_after > 3590 and o.err.retry_after <= 3600, tostring(o.err.retry_after))
      assert.equal(1, #api_log())
    end },
  { name = "revoke_many: an id whose 429 asks more than the retry budget fails with retry_after, the rest go on",
    setup = function()
      local ids = fake.add_users { count = 3, prefix = "budget-" }
      fake.fault { kind = "429", retry_after = 3600, times = 5, path = "/api/v2/tokens/" .. ids[2] }
      return { ids }
    end, call = "revoke_many", check = function(o)
      local r = o.value
      assert.equal(2, r.succeeded)
      assert.is_true(r[1].ok and r[3].ok)
      assert.is_false(r[2].ok)
      assert.equal("http", r[2].err.kind)
      assert.equal(429, r[2].err.status)
      assert.equal(3600, r[2].err.retry_after)
      assert.is_true(r.elapsed < 2, "took " .. r.elapsed)
    end },
  { name = "revoke_many ends at its deadline: in flight abandoned (timeout), the rest not started",
    setup = function()
      local ids = fake.add_users { count = 6, prefix = "deadline-" }
      fake.configure { latency = 2 }
      return { ids, { deadline = 0.3, concurrency = 2 } }
    end, call = "revoke_many", check = function(o)
      local r = o.value
      assert.is_true(r.elapsed >= 0.29 and r.elapsed < 1, "took " .. r.elapsed) -- nginx clocks count ms
      assert.equal("the run's deadline passed", r.stopped)
      local kinds = {}
      for _, x in ipairs(r) do kinds[x.err.kind] = (kinds[x.err.kind] or 0) + 1 end
      assert.same({ timeout = 2, stopped = 4 }, kinds)
      assert.equal("deadline", r[1].err.code)
      assert.equal(6, r.failed)
    end },
  { name = "one connection is kept alive across calls", call = "me", times = 4, check = function(o)
    assert.is_table(o.value)
    local conns, n = {}, 0
    for _, e in ipairs(api_log()) do
      if not conns[e.connection] then n = n + 1 end
      conns[e.connection] = true
    end
    assert.equal(4, #api_log())
    assert.equal(1, n)
  end },
}

describe("both transports", function()
  local srv

  lazy_setup(function()
    srv = fake.start()
    openresty.start(srv)
  end)
  lazy_teardown(function()
    openresty.stop()
    fake.stop()
  end)
  before_each(function() fake.reset() end)

  local RUNNERS = {
    curl = function(spec)
      return outcome.run(tokens, spec.client, spec.call, spec.args, spec.times)
    end,
    ngx = function(spec) return openresty.call(spec) end,
  }

  for _, transport in ipairs { "curl", "ngx" } do
    describe(transport, function()
      for _, case in ipairs(CASES) do
        it(case.name, function()
          local faults = case.fault and { case.fault } or {}
          for _, f in ipairs(faults) do fake.fault(f) end
          local args = case.setup and case.setup(srv) or case.args
          local client = { base_url = srv.http_url, access_token = "tok-admin", timeout = 5 }
          local extra = type(case.client) == "function" and case.client(srv, transport) or case.client or {}
          for k, v in pairs(extra) do client[k] = v end
          if client.access_token == false then client.access_token = nil end
          local o = RUNNERS[transport] { client = client, call = case.call, args = args, times = case.times }
          case.check(o, srv, transport)
          local agent = (api_log()[1] or { headers = {} }).headers["user-agent"]
          if agent then
            assert.matches(transport == "curl" and " libcurl/" or " ngx_lua/", agent, 1, true)
          end
        end)
      end
    end)
  end
end)
