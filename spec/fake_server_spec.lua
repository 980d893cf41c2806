-- Proves the fake Genesys Cloud API (spec/support/fake*) behaves as the
-- other specs expect. Run from the repo root:
--   lua5.4 /usr/bin/busted spec/fake_server_spec.lua
package.path = "./?.lua;" .. package.path

local fake = require "spec.support.fake"
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local mime = require "mime"
local cjson = require "cjson"

local seed = fake.seed

local execute = fake.execute -- os.execute as (success, exit code) on every Lua
local ALICE, BOB, ODD = seed.users.alice.id, seed.users.bob.id, seed.users.odd.id
local ACME, TRUSTOR = seed.orgs.acme.id, seed.orgs.trustor.id
local ME = "/api/v2/tokens/me"
local TIMEOUT = "/api/v2/tokens/timeout"
local LOGIN = "/oauth/token"
local FORM = "application/x-www-form-urlencoded"
local CC = seed.oauth_clients

local srv
local pids = {} -- every nginx this spec started, checked at the end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("*a")
  f:close()
  return stat:match("^%d+ %b() (%a)") ~= "Z" -- a zombie has exited
end

-- socket.http request; returns status, body, headers (lower-case names).
-- proxy: "http://user:pass@host:port" sends an absolute-form request there.
local function request(method, url, token, body, extra, proxy)
  local out = {}
  local headers = { accept = "application/json" }
  if token then headers.authorization = "Bearer " .. token end
  if body then
    headers["content-type"] = "application/json"
    headers["content-length"] = #body
  end
  for k, v in pairs(extra or {}) do headers[k] = v end
  local r, status, h = http.request {
    url = url, method = method, headers = headers, redirect = false, proxy = proxy,
    source = body and ltn12.source.string(body) or nil,
    sink = ltn12.sink.table(out),
  }
  assert(r, status)
  return status, table.concat(out), h
end

local function api(method, path, token, body)
  return request(method, srv.http_url .. path, token, body)
end

-- Raw HTTP/1.1 exchange, so the request line is exactly what we wrote and
-- broken responses can be seen as they are. mode "t" = total timeout.
-- headers: extra request header lines, e.g. { "Proxy-Authorization: ..." }.
local function raw(port, method, target, token, timeout, headers)
  local c = assert(socket.connect("127.0.0.1", port))
  c:settimeout(timeout or 10, "t")
  local extra = headers and (table.concat(headers, "\r\n") .. "\r\n") or ""
  local req = method .. " " .. target .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    .. (token and ("Authorization: Bearer " .. token .. "\r\n") or "")
    .. extra .. "Connection: close\r\n\r\n"
  assert(c:send(req))
  local data, err, partial = c:receive("*a")
  c:close()
  data = data or partial or ""
  local res = { err = err, raw = data, headers = {} }
  local head, body = data:match("^(.-\r\n)\r\n(.*)$")
  if head then
    res.status = tonumber(head:match("^HTTP/1%.%d (%d+)"))
    for k, v in head:gmatch("\n([^:\r\n]+):%s*([^\r\n]*)") do res.headers[k:lower()] = v end
    res.body = body
  end
  return res
end

local function decode_chunked(s)
  local out, pos = {}, 1
  for _ = 1, 100000 do
    local size_hex, after = s:match("^(%x+)[^\r\n]*\r\n()", pos)
    if not size_hex then return nil end
    local size = tonumber(size_hex, 16)
    if size == 0 then return table.concat(out) end
    out[#out + 1] = s:sub(after, after + size - 1)
    pos = after + size + 2
  end
end

local function is_uuid(s)
  return type(s) == "string" and s:match("^%x+%-%x+%-%x+%-%x+%-%x+$") ~= nil
end

local function last_log()
  local entries = fake.log()
  return entries[#entries], entries
end

local function basic(user, password)
  return "Basic " .. mime.b64(user .. ":" .. password)
end

-- POST /oauth/token as the SDKs send it; returns status, decoded body (or
-- the raw text), headers. opts: body, content_type, authorization (false
-- for none), base (URL prefix, default http_url), proxy.
local function login(id, secret, opts)
  opts = opts or {}
  local extra = { ["content-type"] = opts.content_type or FORM }
  if opts.authorization ~= false then
    extra.authorization = opts.authorization or basic(id, secret)
  end
  local status, body, h = request("POST", (opts.base or srv.http_url) .. LOGIN, nil,
    opts.body or "grant_type=client_credentials", extra, opts.proxy)
  local ok, decoded = pcall(cjson.decode, body)
  return status, ok and decoded or body, h
end

-- An OAuth error body: exactly error, description, error_description.
local function assert_oauth_error(status, err, got_status, body, h)
  assert.are.equal(status, got_status)
  assert.are.equal(err, body.error)
  assert.are.equal("string", type(body.description))
  assert.are.equal(body.description, body.error_description)
  assert.is_nil(body.code) -- not ErrorBody
  assert.is_true(is_uuid(h["inin-correlation-id"]))
end

describe("fake Genesys Cloud API", function()
  setup(function()
    srv = fake.start()
    pids[#pids + 1] = srv.pid
  end)

  teardown(function()
    fake.stop()
  end)

  before_each(function()
    fake.reset()
  end)

  it("answers the readiness probe and describes itself", function()
    assert.are.equal("pong", fake.ping())
    assert.truthy(srv.http_url:match("^http://127%.0%.0%.1:%d+$"))
    assert.are.equal("https://127.0.0.1:" .. srv.tls_port, srv.https_url)
    assert.are.equal("http://127.0.0.1:" .. srv.other_port, srv.other_url)
    assert.are.equal("http://127.0.0.1:" .. srv.proxy_port, srv.proxy_url)
    local ports = { [srv.port] = 1, [srv.tls_port] = 1, [srv.other_port] = 1, [srv.proxy_port] = 1 }
    local n = 0
    for _ in pairs(ports) do n = n + 1 end
    assert.are.equal(4, n, "four distinct ports")
    assert.is_true(alive(srv.pid))
    assert.truthy(io.open(srv.ca_file)):close()
  end)

  describe("GET /api/v2/tokens/me", function()
    it("returns the caller's TokenInfo with platform headers", function()
      local status, body, h = api("GET", ME, "tok-alice")
      assert.are.equal(200, status)
      assert.are.equal("application/json", h["content-type"])
      assert.is_true(#body > 400 and #body < 1000, "about 600 bytes, got " .. #body)
      local info = cjson.decode(body)
      assert.are.same({ id = ACME, name = "Acme Corp" }, info.organization)
      assert.are.same({ id = ACME, name = "Acme Corp" }, info.homeOrganization)
      assert.are.same({ "users:readonly", "oauth" }, info.authorizedScope)
      assert.are.equal("2031-01-01T12:15:00.000Z", info.dateTokenIdles)
      assert.is_nil(info.clonedUser)
      assert.is_nil(info.oAuthClient)
      local c = info.OAuthClient
      assert.are.equal(seed.clients.web_app.id, c.id)
      assert.are.equal("Acme Web App", c.name)
      assert.are.equal("CODE", c.authorizedGrantType)
      assert.are.equal("active", c.state)
      assert.are.same({ id = ACME, name = "Acme Corp" }, c.organization)
      assert.are.equal(seed.users.admin.id, c.createdBy.id)
      assert.truthy(body:find('"roleDivisions":[]', 1, true), "empty arrays are arrays")
      assert.is_true(is_uuid(h["inin-correlation-id"]))
      assert.are.equal("1", h["inin-ratelimit-count"])
      assert.are.equal("300", h["inin-ratelimit-allowed"])
      assert.truthy(tonumber(h["inin-ratelimit-reset"]))
    end)

    it("counts requests per token and gives every response a fresh correlation id", function()
      local _, _, h1 = api("GET", ME, "tok-bob-1")
      local _, _, h2 = api("GET", ME, "tok-bob-1")
      local _, _, h3 = api("GET", ME, "tok-bob-2")
      assert.are.equal("2", h2["inin-ratelimit-count"])
      assert.are.equal("1", h3["inin-ratelimit-count"])
      assert.are_not.equal(h1["inin-correlation-id"], h2["inin-correlation-id"])
    end)

    it("reports the client-credentials client of the admin token", function()
      local info = cjson.decode((select(2, api("GET", ME, "tok-admin"))))
      assert.are.equal("CLIENT-CREDENTIALS", info.OAuthClient.authorizedGrantType)
      assert.are.equal(1, #info.OAuthClient.roleDivisions)
    end)

    it("reports a cloned user with a different home organization", function()
      local info = cjson.decode((select(2, api("GET", ME, "tok-cloned"))))
      assert.are.same({ id = seed.native_user_id, organization = { id = TRUSTOR } }, info.clonedUser)
      assert.are.same({ id = TRUSTOR, name = "Trustor Inc" }, info.homeOrganization)
      assert.are.equal(ACME, info.organization.id)
    end)

    it("sends explicit JSON nulls for tok-nulls", function()
      local _, body = api("GET", ME, "tok-nulls")
      assert.truthy(body:find('"clonedUser":null', 1, true))
      assert.truthy(body:find('"dateTokenIdles":null', 1, true))
      assert.truthy(body:find('"authorizedScope":[]', 1, true))
      local info = cjson.decode(body)
      assert.are.equal(cjson.null, info.OAuthClient.modifiedBy)
      assert.are.equal(cjson.null, info.OAuthClient.dateToDelete)
      assert.are.equal("Legacy Integration", info.OAuthClient.name)
    end)

    it("accepts preserveIdleTTL=true|false and rejects other values", function()
      assert.are.equal(200, (api("GET", ME .. "?preserveIdleTTL=true", "tok-alice")))
      local e = last_log()
      assert.are.equal("preserveIdleTTL=true", e.query)
      assert.are.equal(ME, e.path)
      assert.are.equal(ME .. "?preserveIdleTTL=true", e.request_uri)
      assert.are.equal(200, (api("GET", ME .. "?preserveIdleTTL=false", "tok-alice")))
      local status, body = api("GET", ME .. "?preserveIdleTTL=maybe", "tok-alice")
      assert.are.equal(400, status)
      assert.are.equal("bad.request", cjson.decode(body).code)
    end)

    it("answers HEAD with headers only", function()
      local r = raw(srv.port, "HEAD", ME, "tok-alice")
      assert.are.equal(200, r.status)
      assert.are.equal("", r.body)
      assert.is_true(is_uuid(r.headers["inin-correlation-id"]))
      for _, tok in ipairs { "tok-nope", false } do
        r = raw(srv.port, "HEAD", ME, tok or nil)
        assert.are.equal(401, r.status)
        assert.are.equal("", r.body)
      end
      api("DELETE", ME, "tok-bob-1")
      assert.are.equal(401, raw(srv.port, "HEAD", ME, "tok-bob-1").status)
    end)
  end)

  describe("authentication", function()
    local function assert_401(token, extra)
      local status, body, h = request("GET", srv.http_url .. ME, token, nil, extra)
      assert.are.equal(401, status)
      local e = cjson.decode(body)
      assert.are.same({
        message = "Invalid login credentials.", code = "bad.credentials", status = 401,
        contextId = h["inin-correlation-id"], details = {}, errors = {},
      }, e)
      assert.is_true(is_uuid(e.contextId))
    end

    it("rejects a missing, unknown or malformed token with the platform 401 body", function()
      assert_401(nil)
      assert_401("tok-unknown")
      assert_401(nil, { authorization = "Basic dG9rLWFsaWNl" })
    end)
  end)

  describe("DELETE /api/v2/tokens/me", function()
    it("revokes only the calling token", function()
      local status, body = api("DELETE", ME, "tok-bob-1")
      assert.are.equal(204, status)
      assert.are.equal("", body)
      assert.are.equal(401, (api("GET", ME, "tok-bob-1")))
      assert.are.equal(200, (api("GET", ME, "tok-bob-2")))
      local st = fake.state()
      assert.is_true(st.tokens["tok-bob-1"].revoked)
      assert.is_false(st.tokens["tok-bob-2"].revoked)
      assert.are.equal(401, (api("DELETE", ME, "tok-bob-1")))
    end)
  end)

  describe("DELETE /api/v2/tokens/{userId}", function()
    it("revokes every token of the user when the caller has oauth:token:delete", function()
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/" .. BOB, "tok-admin")))
      assert.are.equal(401, (api("GET", ME, "tok-bob-1")))
      assert.are.equal(401, (api("GET", ME, "tok-bob-2")))
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
      -- a user without live tokens is still a user
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/" .. BOB, "tok-admin")))
    end)

    it("is forbidden without the permission", function()
      local status, body, h = api("DELETE", "/api/v2/tokens/" .. BOB, "tok-alice")
      assert.are.equal(403, status)
      local e = cjson.decode(body)
      assert.are.equal("missing.permissions", e.code)
      assert.are.equal(h["inin-correlation-id"], e.contextId)
      assert.are.equal(200, (api("GET", ME, "tok-bob-1")))
    end)

    it("answers 404 for an unknown user", function()
      local status, body = api("DELETE", "/api/v2/tokens/no-such-user", "tok-admin")
      assert.are.equal(404, status)
      assert.are.equal("not.found", cjson.decode(body).code)
    end)

    it("decodes exactly one raw path segment, so the odd id needs percent-encoding", function()
      -- What a client that forgets to encode would send: never reaches the user.
      local r = raw(srv.port, "DELETE", "/api/v2/tokens/odd/user?id", "tok-admin")
      assert.are.equal(404, r.status)
      assert.are.equal("not.found", cjson.decode(r.body).code)
      -- A '%2F' decoded by nginx would hide the bug; the fake keeps it raw.
      assert.are.equal(404, raw(srv.port, "DELETE", "/api/v2/tokens/a/b", "tok-admin").status)
      assert.are.equal(200, (api("GET", ME, "tok-odd")))

      local encoded = "/api/v2/tokens/odd%2Fuser%3Fid%231%20%C3%BC"
      r = raw(srv.port, "DELETE", encoded, "tok-admin")
      assert.are.equal(204, r.status)
      local e = last_log()
      assert.are.equal(encoded, e.request_uri)
      assert.are.equal(encoded, e.path)
      assert.is_nil(e.query)
      assert.are.equal(401, (api("GET", ME, "tok-odd")))
      assert.is_true(fake.state().tokens["tok-odd"].revoked)
      assert.are.equal(ODD, fake.state().users[ODD].id)
    end)

    it("does not turn '+' into a space", function()
      fake.add_token { token = "tok-plus", user_id = "a+b" }
      assert.are.equal(404, (api("DELETE", "/api/v2/tokens/a%20b", "tok-admin")))
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/a+b", "tok-admin")))
      assert.are.equal(401, (api("GET", ME, "tok-plus")))
    end)
  end)

  describe("other routes", function()
    it("answers 404 for unknown routes and 405 for wrong methods", function()
      local status, body, h = api("GET", "/api/v2/users/me", "tok-alice")
      assert.are.equal(404, status)
      assert.are.equal("not.found", cjson.decode(body).code)
      assert.are.equal(h["inin-correlation-id"], cjson.decode(body).contextId)
      status, body, h = api("POST", ME, "tok-alice", "{}")
      assert.are.equal(405, status)
      assert.are.equal(405, cjson.decode(body).status)
      assert.are.equal("DELETE, GET, HEAD", h["allow"])
      assert.are.equal(405, (api("GET", "/api/v2/tokens/" .. ALICE, "tok-admin")))
    end)

    it("serves GET/PUT /api/v2/tokens/timeout", function()
      local status, body = api("GET", "/api/v2/tokens/timeout", "tok-alice")
      assert.are.equal(200, status)
      assert.are.same({ idleTokenTimeoutSeconds = 900, enableIdleTokenTimeout = true }, cjson.decode(body))
      local put = '{"idleTokenTimeoutSeconds":1800}'
      assert.are.equal(403, (api("PUT", "/api/v2/tokens/timeout", "tok-alice", put)))
      assert.are.equal(400, (api("PUT", "/api/v2/tokens/timeout", "tok-admin", '{"idleTokenTimeoutSeconds":5}')))
      assert.are.equal(400, (api("PUT", "/api/v2/tokens/timeout", "tok-admin", "{nope")))
      status, body = api("PUT", "/api/v2/tokens/timeout", "tok-admin", put)
      assert.are.equal(200, status)
      assert.are.equal(1800, cjson.decode(body).idleTokenTimeoutSeconds)
      assert.are.equal(1800, cjson.decode((select(2, api("GET", "/api/v2/tokens/timeout", "tok-bob-1"))))
        .idleTokenTimeoutSeconds)
    end)
  end)

  describe("control endpoints", function()
    it("logs API requests in order, raw, without /_fake calls", function()
      api("GET", ME, "tok-alice")
      api("PUT", "/api/v2/tokens/timeout", "tok-admin", '{"enableIdleTokenTimeout":false}')
      fake.state()
      local entries = fake.log()
      assert.are.equal(2, #entries)
      local a, b = entries[1], entries[2]
      assert.are.equal("api", a.server)
      assert.are.equal("http", a.scheme)
      assert.are.equal("GET", a.method)
      assert.are.equal("Bearer tok-alice", a.headers.authorization)
      assert.are.equal("application/json", a.headers.accept)
      assert.is_nil(a.body)
      assert.are.equal(200, a.status)
      assert.is_true(a.completed)
      assert.is_true(is_uuid(a.correlation_id))
      assert.are.equal("PUT", b.method)
      assert.are.equal('{"enableIdleTokenTimeout":false}', b.body)
      assert.are.equal("application/json", b.headers["content-type"])
      assert.is_true(b.time >= a.time)
    end)

    it("reset restores the seed and clears faults and the log", function()
      api("DELETE", ME, "tok-alice")
      fake.fault { kind = "status", status = 500, times = 5 }
      fake.add_token { token = "tok-temp", user_id = ALICE }
      fake.reset()
      assert.are.same({}, fake.log())
      local st = fake.state()
      assert.is_false(st.tokens["tok-alice"].revoked)
      assert.is_nil(st.tokens["tok-temp"])
      assert.are.same({}, st.faults)
      -- issued tokens and registered OAuth clients go too
      fake.add_oauth_client { client_id = "cc-temp", client_secret = "x" }
      local _, res = login(CC.admin.client_id, CC.admin.client_secret)
      fake.reset()
      st = fake.state()
      assert.is_nil(st.tokens[res.access_token])
      assert.is_nil(st.oauth_clients["cc-temp"])
      assert.are.equal(CC.short.client_secret, st.oauth_clients[CC.short.client_id].client_secret)
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
    end)

    it("state lists tokens and users by key and as sorted arrays", function()
      api("DELETE", ME, "tok-bob-2")
      local st = fake.state()
      assert.are.equal("tok-bob-2", st.tokens["tok-bob-2"].token)
      assert.are.equal(BOB, st.tokens["tok-bob-2"].user_id)
      local n, revoked = 0, {}
      for _, t in ipairs(st.tokens) do
        n = n + 1
        if t.revoked then revoked[#revoked + 1] = t.token end
      end
      assert.are.equal(7, n)
      assert.are.same({ "tok-bob-2" }, revoked)
      assert.are.equal("tok-admin", st.tokens[1].token)
      assert.are.equal(ALICE, st.users[ALICE].id)
      assert.are.equal(6, #st.users)
      assert.is_true(fake.state_token("tok-bob-2").revoked)
      assert.is_false(fake.state_token("tok-alice").revoked)
      assert.is_nil(fake.state_token("tok-none"))
    end)

    it("adds tokens for existing and new users", function()
      local t = fake.add_token { token = "tok-x", user_id = ALICE }
      assert.are.equal(ALICE, t.user_id)
      assert.are.equal(200, (api("GET", ME, "tok-x")))
      fake.add_token { token = "tok-new", user_id = "new-user", scopes = { "a", "b" } }
      local info = cjson.decode((select(2, api("GET", ME, "tok-new"))))
      assert.are.same({ "a", "b" }, info.authorizedScope)
      assert.truthy(fake.state().users["new-user"])
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/new-user", "tok-admin")))
      assert.are.equal(401, (api("GET", ME, "tok-new")))
      assert.has_error(function() fake.add_token { token = "tok-x", user_id = ALICE } end)
      assert.has_error(function() fake.fault { kind = "no-such-kind" } end)
    end)
  end)

  describe("faults", function()
    it("status: given status and ErrorBody for the next N matching requests", function()
      fake.fault { kind = "status", status = 503, times = 2, path = ME, method = "get" }
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/" .. BOB, "tok-admin"))) -- no match
      local status, body, h = api("GET", ME, "tok-alice")
      assert.are.equal(503, status)
      local e = cjson.decode(body)
      assert.are.equal("service.unavailable", e.code)
      assert.are.equal(503, e.status)
      assert.are.equal(h["inin-correlation-id"], e.contextId)
      assert.are.equal(503, (api("GET", ME, "tok-alice")))
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
      local entries = fake.log()
      assert.are.equal(4, #entries)
      assert.are.equal("status", entries[2].fault)
      assert.is_nil(entries[4].fault)
    end)

    it("status: applies before authentication and takes code/message overrides", function()
      fake.fault { kind = "status", status = 500 }
      local status, body = api("GET", ME, nil)
      assert.are.equal(500, status)
      assert.are.equal("internal.server.error", cjson.decode(body).code)
      fake.fault { kind = "status", status = 409, code = "conflict.x", message = "busy" }
      body = select(2, api("GET", ME, "tok-alice"))
      assert.are.same({ "conflict.x", "busy" }, { cjson.decode(body).code, cjson.decode(body).message })
    end)

    it("429: Retry-After header and the normalised body", function()
      fake.fault { kind = "429", retry_after = 2 }
      local status, body, h = api("GET", ME, "tok-alice")
      assert.are.equal(429, status)
      assert.are.equal("2", h["retry-after"])
      local e = cjson.decode(body)
      assert.are.equal("too.many.requests.retry.after", e.code)
      assert.are.equal("Rate limit exceeded the maximum. Retry the request in [2] seconds", e.message)
      assert.are.equal(h["inin-correlation-id"], e.contextId)
    end)

    it("truncated_json: 200 with a correct Content-Length but invalid JSON", function()
      fake.fault { kind = "truncated_json" }
      local r = raw(srv.port, "GET", ME, "tok-alice")
      assert.are.equal(200, r.status)
      assert.are.equal(#r.body, tonumber(r.headers["content-length"]))
      assert.is_true(#r.body > 10)
      assert.is_false((pcall(cjson.decode, r.body)))
    end)

    it("short_body: Content-Length promises more than is sent", function()
      fake.fault { kind = "short_body" }
      local r = raw(srv.port, "GET", ME, "tok-alice")
      assert.are.equal(200, r.status)
      assert.is_true(#r.body < tonumber(r.headers["content-length"]))
      assert.is_true(is_uuid(r.headers["inin-correlation-id"]))
      local e = last_log()
      assert.are.equal("short_body", e.fault)
      assert.is_false(e.completed)
    end)

    it("html: an HTML error page", function()
      fake.fault { kind = "html" }
      local status, body, h = api("GET", ME, "tok-alice")
      assert.are.equal(502, status)
      assert.are.equal("text/html", h["content-type"])
      assert.truthy(body:find("<html>", 1, true))
      fake.fault { kind = "html", status = 504 }
      assert.are.equal(504, (api("GET", ME, "tok-alice")))
    end)

    it("huge: 8 MiB by default, with Content-Length", function()
      fake.fault { kind = "huge" }
      local status, body, h = api("GET", ME, "tok-alice")
      assert.are.equal(200, status)
      assert.are.equal(8 * 1024 * 1024, #body)
      assert.are.equal(tostring(#body), h["content-length"])
      assert.truthy(body:match('^{"padding":"x+"}$'))
    end)

    it("huge: chunked, without Content-Length", function()
      fake.fault { kind = "huge", bytes = 300000, chunked = true }
      local r = raw(srv.port, "GET", ME, "tok-alice")
      assert.are.equal(200, r.status)
      assert.is_nil(r.headers["content-length"])
      assert.are.equal("chunked", r.headers["transfer-encoding"])
      local body = decode_chunked(r.body)
      assert.are.equal(300000, #body)
      assert.is_true(select(2, r.body:gsub("\r\n%x+\r\n", "")) > 1, "several chunks")
    end)

    it("trickle: a client with a 1 s timeout times out", function()
      fake.fault { kind = "trickle" }
      local t0 = socket.gettime()
      local r = raw(srv.port, "GET", ME, "tok-alice", 1)
      assert.are.equal("timeout", r.err)
      assert.is_true(socket.gettime() - t0 < 3)
      assert.are.equal(200, r.status)
      assert.is_true(#r.body < tonumber(r.headers["content-length"]))
      -- the fake notices the hang-up and ends the handler
      local e
      for _ = 1, 50 do
        e = last_log()
        if e.completed ~= nil then break end
        socket.sleep(0.05)
      end
      assert.is_false(e.completed)
    end)

    it("trickle: the whole body is a valid TokenInfo", function()
      fake.fault { kind = "trickle", interval = 0.01, bytes = 20 }
      local t0 = socket.gettime()
      local r = raw(srv.port, "GET", ME, "tok-alice", 10)
      assert.is_nil(r.err)
      assert.is_true(socket.gettime() - t0 >= 0.2)
      assert.are.equal(tonumber(r.headers["content-length"]), #r.body)
      assert.are.equal("Acme Web App", cjson.decode(r.body).OAuthClient.name)
    end)

    it("delay: sleeps, then answers normally", function()
      fake.fault { kind = "delay", seconds = 0.3 }
      local t0 = socket.gettime()
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
      assert.is_true(socket.gettime() - t0 >= 0.3)
    end)

    it("reset: closes the connection without a response", function()
      fake.fault { kind = "reset" }
      local r = raw(srv.port, "GET", ME, "tok-alice")
      assert.are.equal("", r.raw)
      local e = last_log()
      assert.are.equal("reset", e.fault)
      assert.are.equal(444, e.status)
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
    end)

    it("redirect: points at the other server, which logs what reaches it", function()
      fake.fault { kind = "redirect" }
      local status, _, h = api("GET", ME, "tok-alice")
      assert.are.equal(302, status)
      assert.are.equal(srv.other_url .. ME, h.location)
      fake.fault { kind = "redirect", status = 307 }
      assert.are.equal(307, (api("GET", ME, "tok-alice")))
      -- a well-behaved client follows without the credentials
      local s2, body = request("GET", h.location, nil)
      assert.are.equal(200, s2)
      assert.are.equal("{}", body)
      local e, entries = last_log()
      assert.are.equal(3, #entries)
      assert.are.equal("other", e.server)
      assert.is_nil(e.headers.authorization)
      assert.are.equal(ME, e.request_uri)
    end)
  end)

  describe("POST /oauth/token", function()
    it("issues a fresh admin token for a registered client", function()
      local status, res, h = login(CC.admin.client_id, CC.admin.client_secret)
      assert.are.equal(200, status)
      assert.are.equal("application/json", h["content-type"])
      assert.are.equal("no-store", h["cache-control"])
      assert.is_true(is_uuid(h["inin-correlation-id"]))
      assert.are.equal("bearer", res.token_type)
      assert.are.equal(3600, res.expires_in)
      assert.is_nil(res.refresh_token)
      assert.truthy(res.access_token:match("^[%w_-]+$") and #res.access_token >= 32)
      local _, again = login(CC.admin.client_id, CC.admin.client_secret)
      assert.are_not.equal(res.access_token, again.access_token)

      local info = cjson.decode((select(2, api("GET", ME, res.access_token))))
      assert.are.equal(seed.clients.admin_tool.id, info.OAuthClient.id)
      assert.are.equal(ACME, info.organization.id)
      -- the powers of the admin: revoke users' tokens, change the timeout
      assert.are.equal(200, (api("PUT", TIMEOUT, res.access_token, '{"idleTokenTimeoutSeconds":600}')))
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/" .. BOB, res.access_token)))

      local t = fake.state_token(res.access_token)
      assert.are.equal("cc-admin-id", t.issued_by)
      assert.are.equal(seed.users.admin.id, t.user_id)
      assert.is_true(math.abs(t.expires_at - (t.issued_at + 3600)) < 0.01)
      assert.is_true(math.abs(t.issued_at - socket.gettime()) < 60)
      assert.is_false(t.expired)
      local issued = fake.issued_tokens("cc-admin-id")
      assert.are.equal(2, #issued)
      assert.are.equal(res.access_token, issued[1].token)
      assert.are.same({ 1, 2 }, { issued[1].issued_n, issued[2].issued_n })
      assert.are.same({}, fake.issued_tokens("cc-short-id"))
    end)

    it("logs the login raw, credentials and body included", function()
      login(CC.admin.client_id, CC.admin.client_secret)
      local e = last_log()
      assert.are.equal("api", e.server)
      assert.are.equal("POST", e.method)
      assert.are.equal(LOGIN, e.request_uri)
      assert.are.equal(LOGIN, e.path)
      assert.are.equal(basic("cc-admin-id", "cc-admin-secret"), e.headers.authorization)
      assert.are.equal(FORM, e.headers["content-type"])
      assert.are.equal("grant_type=client_credentials", e.body)
      assert.are.equal(200, e.status)
      assert.is_false(e.proxied)
      assert.is_nil(e.gateway)
    end)

    it("takes a secret as it is: ':' and '%' are not encoded", function()
      assert.are.equal("p@ss:w/rd+=?&%20", CC.odd.client_secret)
      assert.are.equal(200, (login(CC.odd.client_id, CC.odd.client_secret)))
      assert.are.equal(401, (login(CC.odd.client_id, "p%40ss%3Aw%2Frd%2B%3D%3F%26%2520")))
      assert.are.equal(401, (login(CC.odd.client_id, "p@ss:w/rd+=?& ")))
    end)

    it("accepts a charset on the form content type", function()
      local status = login(CC.admin.client_id, CC.admin.client_secret,
        { content_type = FORM .. "; charset=UTF-8" })
      assert.are.equal(200, status)
    end)

    it("refuses bad credentials, grants and content types in the OAuth error shape", function()
      local id, secret = CC.admin.client_id, CC.admin.client_secret
      assert_oauth_error(401, "invalid_client", login("cc-nobody", secret))
      assert_oauth_error(401, "invalid_client", login(id, "wrong"))
      assert_oauth_error(401, "invalid_client", login(id, secret, { authorization = false }))
      assert_oauth_error(401, "invalid_client", login(id, secret, { authorization = "Bearer tok-admin" }))
      assert_oauth_error(401, "invalid_client", login(id, secret, { authorization = "Basic !!!" }))
      assert_oauth_error(401, "invalid_client", login(id, secret,
        { authorization = "Basic " .. mime.b64("no-colon") }))
      assert_oauth_error(400, "unsupported_grant_type", login(id, secret, { body = "grant_type=password" }))
      assert_oauth_error(400, "unsupported_grant_type", login(id, secret, { body = "scope=x" }))
      assert_oauth_error(400, "invalid_request", login(id, secret,
        { content_type = "application/json", body = '{"grant_type":"client_credentials"}' }))
      local status, body, h = request("GET", srv.http_url .. LOGIN)
      assert_oauth_error(405, "invalid_request", status, cjson.decode(body), h)
      assert.are.equal("POST", h.allow)
      assert.are.same({}, fake.issued_tokens())
      -- every attempt is in the log
      assert.are.equal(10, #fake.log())
    end)

    it("a token stops working when it expires", function()
      local rec = fake.add_oauth_client { client_id = "cc-brief", client_secret = "s", expires_in = 1 }
      assert.are.equal(seed.users.admin.id, rec.user_id)
      assert.are.equal(seed.clients.admin_tool.id, rec.oauth_client)
      local _, res = login("cc-brief", "s")
      assert.are.equal(1, res.expires_in)
      assert.are.equal(200, (api("GET", ME, res.access_token)))
      socket.sleep(1.1)
      local status, body = api("GET", ME, res.access_token)
      assert.are.equal(401, status)
      assert.are.equal("bad.credentials", cjson.decode(body).code)
      assert.are.equal(401, raw(srv.port, "HEAD", ME, res.access_token).status)
      assert.is_true(fake.state_token(res.access_token).expired)
      assert.is_false(fake.state_token(res.access_token).revoked)
      -- the seed's short-lived client
      local _, short = login(CC.short.client_id, CC.short.client_secret)
      assert.are.equal(2, short.expires_in)
      -- expires_in = 0: dead on arrival
      fake.add_oauth_client { client_id = "cc-dead", client_secret = "s", expires_in = 0 }
      local _, dead = login("cc-dead", "s")
      assert.are.equal(401, (api("GET", ME, dead.access_token)))
    end)

    it("registers clients for other users, replaces them, and checks the spec", function()
      fake.add_oauth_client { client_id = "cc-alice", client_secret = "a", user_id = ALICE,
        permissions = {}, scopes = { "users:readonly" } }
      local _, res = login("cc-alice", "a")
      assert.are.equal(86400, res.expires_in)
      assert.are.equal(403, (api("DELETE", "/api/v2/tokens/" .. BOB, res.access_token)))
      local info = cjson.decode((select(2, api("GET", ME, res.access_token))))
      assert.are.same({ "users:readonly" }, info.authorizedScope)
      fake.add_oauth_client { client_id = "cc-alice", client_secret = "b" }
      assert.are.equal(401, (login("cc-alice", "a")))
      assert.are.equal(200, (login("cc-alice", "b")))
      fake.add_oauth_client { client_id = "cc-new", client_secret = "n", user_id = "cc-user" }
      assert.truthy(fake.state().users["cc-user"])
      for _, bad in ipairs {
        { client_secret = "x" }, { client_id = "a:b", client_secret = "x" }, { client_id = "x" },
        { client_id = "x", client_secret = "y", expires_in = 1.5 },
        { client_id = "x", client_secret = "y", expires_in = -1 },
      } do
        assert.has_error(function() fake.add_oauth_client(bad) end)
      end
    end)

    it("revoke_token makes any token a 401, as an admin revoking it would", function()
      local _, res = login(CC.admin.client_id, CC.admin.client_secret)
      assert.are.equal(200, (api("GET", ME, res.access_token)))
      local t = fake.revoke_token(res.access_token)
      assert.is_true(t.revoked)
      assert.are.equal(401, (api("GET", ME, res.access_token)))
      assert.is_true(fake.state_token(res.access_token).revoked)
      fake.revoke_token("tok-alice")
      assert.are.equal(401, (api("GET", ME, "tok-alice")))
      assert.are.equal(200, (api("GET", ME, "tok-bob-1")))
      assert.has_error(function() fake.revoke_token("tok-none") end)
    end)

    it("faults hit the login only when their path says so", function()
      fake.fault { kind = "status", status = 500 }
      assert.are.equal(200, (login(CC.admin.client_id, CC.admin.client_secret)))
      assert.are.equal(500, (api("GET", ME, "tok-alice")))

      fake.fault { kind = "status", status = 503, path = LOGIN }
      local status, res, h = login(CC.admin.client_id, CC.admin.client_secret)
      assert_oauth_error(503, "temporarily_unavailable", status, res, h)
      assert.are.equal(200, (login(CC.admin.client_id, CC.admin.client_secret)))
      assert.are.equal(1, #fake.issued_tokens() - 1, "no token for the failed try")

      fake.fault { kind = "429", retry_after = 3, path = LOGIN, times = 2 }
      for _ = 1, 2 do
        status, res, h = login(CC.admin.client_id, CC.admin.client_secret)
        assert_oauth_error(429, "too_many_requests", status, res, h)
        assert.are.equal("3", h["retry-after"])
      end
      assert.are.equal(200, (login(CC.admin.client_id, CC.admin.client_secret)))
      local e = fake.log()
      assert.are.equal("429", e[#e - 1].fault)
    end)

    it("broken 200s on the login carry a real token response", function()
      fake.fault { kind = "truncated_json", path = LOGIN }
      local status, body = login(CC.admin.client_id, CC.admin.client_secret)
      assert.are.equal(200, status)
      assert.are.equal("string", type(body))
      assert.truthy(body:find("^{"))
      fake.fault { kind = "trickle", path = LOGIN, interval = 0.01, bytes = 10 }
      local res
      status, res = login(CC.short.client_id, CC.short.client_secret)
      assert.are.equal(200, status)
      assert.are.equal(2, res.expires_in)
      assert.are.equal(200, (api("GET", ME, res.access_token)))
      assert.are.equal("cc-short-id", fake.state_token(res.access_token).issued_by)
    end)

    it("redirect on the login points at the other server's /oauth/token", function()
      fake.fault { kind = "redirect", path = LOGIN }
      local status, _, h = login(CC.admin.client_id, CC.admin.client_secret)
      assert.are.equal(302, status)
      assert.are.equal(srv.other_url .. LOGIN, h.location)
    end)

    it("is served over TLS too", function()
      local ok, https = pcall(require, "ssl.https")
      if not ok then return pending("luasec not installed") end
      local out, body = {}, "grant_type=client_credentials"
      local r, status = https.request {
        url = srv.https_url .. LOGIN, method = "POST", cafile = srv.ca_file, verify = "peer",
        headers = { authorization = basic("cc-admin-id", "cc-admin-secret"),
          ["content-type"] = FORM, ["content-length"] = #body },
        source = ltn12.source.string(body), sink = ltn12.sink.table(out),
        protocol = "any", options = { "all", "no_sslv2", "no_sslv3" },
      }
      assert.truthy(r)
      assert.are.equal(200, status)
      assert.are.equal("bearer", cjson.decode(table.concat(out)).token_type)
      assert.are.equal("https", last_log().scheme)
    end)
  end)

  describe("gateway paths", function()
    it("serves /gw/api/... as the API and logs the raw path", function()
      local status, body = api("GET", "/gw/api" .. ME .. "?preserveIdleTTL=true", "tok-alice")
      assert.are.equal(200, status)
      assert.are.equal(ACME, cjson.decode(body).organization.id)
      local e = last_log()
      assert.are.equal("api", e.gateway)
      assert.are.equal("/gw/api" .. ME .. "?preserveIdleTTL=true", e.request_uri)
      assert.are.equal("/gw/api" .. ME, e.path)
      assert.are.equal(ME, e.route)
      assert.are.equal("preserveIdleTTL=true", e.query)
      assert.are.equal(400, (api("GET", "/gw/api" .. ME .. "?preserveIdleTTL=maybe", "tok-alice")))
      assert.are.equal(204, (api("DELETE", "/gw/api/api/v2/tokens/" .. BOB, "tok-admin")))
      assert.are.equal(401, (api("GET", "/gw/api" .. ME, "tok-bob-1")))
    end)

    it("serves /gw/login/oauth/token as the login", function()
      local status, res = login(CC.admin.client_id, CC.admin.client_secret, { base = srv.http_url .. "/gw/login" })
      assert.are.equal(200, status)
      assert.are.equal(200, (api("GET", "/gw/api" .. ME, res.access_token)))
      local entries = fake.log()
      assert.are.equal("login", entries[1].gateway)
      assert.are.equal("/gw/login" .. LOGIN, entries[1].request_uri)
      assert.are.equal(LOGIN, entries[1].route)
    end)

    it("a fault's path matches the raw path or the routed one", function()
      fake.fault { kind = "status", status = 503, path = LOGIN }
      assert.are.equal(503, (login("x", "y", { base = srv.http_url .. "/gw/login" })))
      fake.fault { kind = "status", status = 502, path = "/gw/api/" }
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
      assert.are.equal(502, (api("GET", "/gw/api" .. ME, "tok-alice")))
      fake.fault { kind = "status", status = 504 } -- no path: any API request
      assert.are.equal(504, (api("GET", "/gw/api" .. ME, "tok-alice")))
    end)

    it("knows no other prefix and hides the control endpoints", function()
      assert.are.equal(404, (api("GET", "/gw/other" .. ME, "tok-alice")))
      assert.are.equal(404, (api("GET", "/gw/api", "tok-alice")))
      assert.are.equal(404, (api("GET", "/gw/api/_fake/ping")))
      assert.are.equal(3, #fake.log())
    end)
  end)

  describe("absolute-form requests (proxies)", function()
    local PA = "Proxy-Authorization: " .. basic(seed.proxy.user, seed.proxy.password)

    it("the http listener serves them as origin and marks them proxied", function()
      local target = srv.http_url .. ME .. "?preserveIdleTTL=true"
      local r = raw(srv.port, "GET", target, "tok-alice", nil, { PA })
      assert.are.equal(200, r.status)
      assert.are.equal(ACME, cjson.decode(r.body).organization.id)
      local e = last_log()
      assert.are.equal("api", e.server)
      assert.is_true(e.proxied)
      assert.are.equal(target, e.target)
      -- nginx strips scheme and host from $request_uri itself
      assert.are.equal(ME .. "?preserveIdleTTL=true", e.request_uri)
      assert.are.equal(ME, e.path)
      assert.are.equal("preserveIdleTTL=true", e.query)
      assert.are.equal(basic("puser", "ppass"), e.headers["proxy-authorization"])
      -- the host in the target does not matter, a path-less one is "/"
      assert.are.equal(200, raw(srv.port, "GET", "http://example.invalid:1" .. ME, "tok-alice").status)
      assert.are.equal(404, raw(srv.port, "GET", srv.http_url, "tok-alice").status)
      assert.are.equal("/", last_log().path)
      -- userinfo in the target: nginx itself answers 400, nothing is logged
      assert.are.equal(400, raw(srv.port, "GET", "http://u:p@127.0.0.1" .. ME, "tok-alice").status)
      assert.are.equal(3, #fake.log())
      -- origin-form is not proxied
      api("GET", ME, "tok-alice")
      assert.is_false(last_log().proxied)
      assert.is_nil(last_log().target)
    end)

    it("the proxy listener wants Proxy-Authorization, then serves the API", function()
      local target = srv.http_url .. ME
      for _, h in ipairs { {}, { "Proxy-Authorization: " .. basic("puser", "wrong") },
        { "Proxy-Authorization: Bearer x" } } do
        local r = raw(srv.proxy_port, "GET", target, "tok-alice", nil, h)
        assert.are.equal(407, r.status)
        assert.are.equal('Basic realm="fake"', r.headers["proxy-authenticate"])
      end
      local r = raw(srv.proxy_port, "GET", target, "tok-alice", nil, { PA })
      assert.are.equal(200, r.status)
      assert.are.equal(ACME, cjson.decode(r.body).organization.id)
      local entries = fake.log()
      assert.are.equal(4, #entries)
      assert.are.same({ "proxy", 407, true }, { entries[1].server, entries[1].status, entries[1].proxied })
      assert.are.same({ "proxy", 200, target }, { entries[4].server, entries[4].status, entries[4].target })
      assert.are.equal("Bearer tok-alice", entries[4].headers.authorization)
    end)

    it("the proxy listener refuses origin-form requests", function()
      local r = raw(srv.proxy_port, "GET", ME, "tok-alice", nil, { PA })
      assert.are.equal(400, r.status)
      assert.are.equal(400, last_log().status)
      assert.are.equal(404, raw(srv.proxy_port, "GET", srv.proxy_url .. "/_fake/ping", nil, nil, { PA }).status)
    end)

    it("a client with a proxy setting logs in and calls the API through it", function()
      local proxy = "http://puser:ppass@127.0.0.1:" .. srv.proxy_port
      local status, res = login(CC.admin.client_id, CC.admin.client_secret, { proxy = proxy })
      assert.are.equal(200, status)
      status = request("GET", srv.http_url .. ME, res.access_token, nil, nil, proxy)
      assert.are.equal(200, status)
      fake.fault { kind = "status", status = 503, path = ME }
      assert.are.equal(503, (request("GET", srv.http_url .. ME, res.access_token, nil, nil, proxy)))
      for _, e in ipairs(fake.log()) do
        assert.are.same({ "proxy", true }, { e.server, e.proxied })
      end
      assert.are.equal(srv.http_url .. LOGIN, fake.log()[1].target)
      local nopass = "http://127.0.0.1:" .. srv.proxy_port
      assert.are.equal(407, (request("GET", srv.http_url .. ME, "tok-alice", nil, nil, nopass)))
    end)
  end)

  describe("transient faults", function()
    it("status 503 twice, then success", function()
      fake.fault { kind = "status", status = 503, times = 2 }
      local got = {}
      for i = 1, 3 do got[i] = (api("GET", ME, "tok-alice")) end
      assert.are.same({ 503, 503, 200 }, got)
      assert.are.same({}, fake.state().faults)
    end)

    it("429 twice with Retry-After, then success", function()
      fake.fault { kind = "429", retry_after = 1, times = 2 }
      for _ = 1, 2 do
        local status, _, h = api("GET", ME, "tok-alice")
        assert.are.same({ 429, "1" }, { status, h["retry-after"] })
      end
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
    end)

    it("reset twice, then success", function()
      fake.fault { kind = "reset", times = 2 }
      assert.are.equal("", raw(srv.port, "GET", ME, "tok-alice").raw)
      assert.are.equal("", raw(srv.port, "GET", ME, "tok-alice").raw)
      assert.are.equal(200, raw(srv.port, "GET", ME, "tok-alice").status)
      local entries = fake.log()
      assert.are.same({ 444, 444, 200 }, { entries[1].status, entries[2].status, entries[3].status })
    end)
  end)

  describe("GET/PUT /api/v2/tokens/timeout", function()
    local FULL = {
      idleTokenTimeoutSeconds = 3600, enableIdleTokenTimeout = true,
      inactivityTimeoutUnit = "HOURS", inactivityTimeoutGroupsEnabled = true,
      inactivityTimeoutGroupBundles = {
        { priority = 1, timeoutSeconds = 300, inactivityTimeoutUnit = "MINUTES", groups = { "g-1", "g-2" } },
        { priority = 5, timeoutSeconds = 28800, inactivityTimeoutUnit = "HOURS", groups = {} },
      },
    }

    it("round-trips every field, bundles included", function()
      local status, body = api("PUT", TIMEOUT, "tok-admin", cjson.encode(FULL))
      assert.are.equal(200, status)
      assert.are.same(FULL, cjson.decode(body))
      assert.truthy(body:find('"groups":[]', 1, true), "an empty array stays an array")
      status, body = api("GET", TIMEOUT, "tok-alice")
      assert.are.equal(200, status)
      assert.are.same(FULL, cjson.decode(body))
      -- a partial PUT changes only what it names; unknown fields are dropped
      status, body = api("PUT", TIMEOUT, "tok-admin",
        '{"enableIdleTokenTimeout":false,"inactivityTimeoutGroupBundles":[],"bogus":1}')
      local got = cjson.decode(body)
      assert.are.equal(200, status)
      assert.is_false(got.enableIdleTokenTimeout)
      assert.are.equal(3600, got.idleTokenTimeoutSeconds)
      assert.is_nil(got.bogus)
      assert.truthy(body:find('"inactivityTimeoutGroupBundles":[]', 1, true))
      -- the other org keeps its own setting
      fake.add_token { token = "tok-trustor", user_id = "t-admin", org_id = TRUSTOR }
      assert.are.equal(3600, cjson.decode((select(2, api("GET", TIMEOUT, "tok-trustor"))))
        .idleTokenTimeoutSeconds)
    end)

    it("refuses a bad field with 400 bad.request naming it", function()
      local b = '{"priority":1,"timeoutSeconds":300,"groups":["g"]}'
      local cases = {
        { '{"idleTokenTimeoutSeconds":299}', "idleTokenTimeoutSeconds" },
        { '{"idleTokenTimeoutSeconds":28801}', "idleTokenTimeoutSeconds" },
        { '{"idleTokenTimeoutSeconds":600.5}', "idleTokenTimeoutSeconds" },
        { '{"idleTokenTimeoutSeconds":"600"}', "idleTokenTimeoutSeconds" },
        { '{"enableIdleTokenTimeout":"yes"}', "enableIdleTokenTimeout" },
        { '{"inactivityTimeoutUnit":"SECONDS"}', "inactivityTimeoutUnit" },
        { '{"inactivityTimeoutGroupsEnabled":1}', "inactivityTimeoutGroupsEnabled" },
        { '{"inactivityTimeoutGroupBundles":{"a":1}}', "inactivityTimeoutGroupBundles" },
        { '{"inactivityTimeoutGroupBundles":[1]}', "inactivityTimeoutGroupBundles[0]" },
        { '{"inactivityTimeoutGroupBundles":[' .. b .. ',{"priority":6}]}',
          "inactivityTimeoutGroupBundles[1].priority" },
        { '{"inactivityTimeoutGroupBundles":[{"priority":0}]}', "inactivityTimeoutGroupBundles[0].priority" },
        { '{"inactivityTimeoutGroupBundles":[{"timeoutSeconds":299}]}',
          "inactivityTimeoutGroupBundles[0].timeoutSeconds" },
        { '{"inactivityTimeoutGroupBundles":[{"timeoutSeconds":28801}]}',
          "inactivityTimeoutGroupBundles[0].timeoutSeconds" },
        { '{"inactivityTimeoutGroupBundles":[{"inactivityTimeoutUnit":"DAYS"}]}',
          "inactivityTimeoutGroupBundles[0].inactivityTimeoutUnit" },
        { '{"inactivityTimeoutGroupBundles":[{"groups":"g"}]}', "inactivityTimeoutGroupBundles[0].groups" },
        { '{"inactivityTimeoutGroupBundles":[{"groups":[1]}]}', "inactivityTimeoutGroupBundles[0].groups" },
      }
      for _, c in ipairs(cases) do
        local status, body, h = api("PUT", TIMEOUT, "tok-admin", c[1])
        assert.are.equal(400, status, c[1])
        local e = cjson.decode(body)
        assert.are.equal("bad.request", e.code)
        assert.are.equal(h["inin-correlation-id"], e.contextId)
        assert.are.equal(c[2], e.message:match("^(%S+)"), c[1])
        assert.are.equal(c[2], e.details[1].fieldName)
      end
      -- nothing was stored
      local _, body = api("GET", TIMEOUT, "tok-admin")
      assert.are.same({ idleTokenTimeoutSeconds = 900, enableIdleTokenTimeout = true }, cjson.decode(body))
      -- the bounds themselves are fine
      assert.are.equal(200, (api("PUT", TIMEOUT, "tok-admin", '{"idleTokenTimeoutSeconds":300}')))
      assert.are.equal(200, (api("PUT", TIMEOUT, "tok-admin", '{"idleTokenTimeoutSeconds":28800}')))
      assert.are.equal(200, (api("PUT", TIMEOUT, "tok-admin", '{"inactivityTimeoutGroupBundles":[' .. b .. ']}')))
    end)

    it("refuses what is not a JSON object, and callers without the permission", function()
      for _, body in ipairs { "{nope", "", "42", '"x"', "[1,2]" } do
        local status, text = api("PUT", TIMEOUT, "tok-admin", body)
        assert.are.equal(400, status, body)
        assert.are.equal("bad.request", cjson.decode(text).code)
      end
      local status, body = api("PUT", TIMEOUT, "tok-alice", '{"idleTokenTimeoutSeconds":600}')
      assert.are.equal(403, status)
      local e = cjson.decode(body)
      assert.are.equal("missing.permissions", e.code)
      assert.truthy(e.message:find("directory:organization:admin", 1, true))
      -- the permission is checked before the body
      assert.are.equal(403, (api("PUT", TIMEOUT, "tok-alice", "{nope")))
      assert.are.equal(401, (api("PUT", TIMEOUT, "tok-nope", '{"idleTokenTimeoutSeconds":600}')))
      assert.are.equal(405, (api("DELETE", TIMEOUT, "tok-admin")))
    end)
  end)

  describe("https", function()
    it("serves a certificate for 127.0.0.1 and localhost signed by the CA", function()
      local cert = srv.dir .. "/server.pem"
      for _, check in ipairs { "-verify_ip 127.0.0.1", "-verify_hostname localhost" } do
        assert.is_true((execute("openssl verify -CAfile '" .. srv.ca_file .. "' " .. check
          .. " '" .. cert .. "' >/dev/null 2>&1")))
      end
      assert.is_false((execute("openssl verify -CAfile '" .. srv.ca_file .. "' -verify_hostname example.com '"
        .. cert .. "' >/dev/null 2>&1")))
    end)

    it("answers the API over TLS when the CA is trusted", function()
      local ok, https = pcall(require, "ssl.https")
      if not ok then return pending("luasec not installed") end
      local function get(url, cafile)
        local out = {}
        local r, status = https.request {
          url = url .. ME, headers = { authorization = "Bearer tok-alice" },
          sink = ltn12.sink.table(out), cafile = cafile, verify = cafile and "peer" or "none",
          protocol = "any", options = { "all", "no_sslv2", "no_sslv3" },
        }
        return r and status, table.concat(out), status
      end
      local status, body = get(srv.https_url, srv.ca_file)
      assert.are.equal(200, status)
      assert.are.equal(ACME, cjson.decode(body).organization.id)
      assert.are.equal(200, (get("https://localhost:" .. srv.tls_port, srv.ca_file)))
      local e = last_log()
      assert.are.equal("https", e.scheme)
      assert.are.equal("api", e.server)
      -- without the throwaway CA the chain does not verify
      local bad, _, err = get(srv.https_url, "/etc/ssl/certs/ca-certificates.crt")
      assert.is_falsy(bad)
      assert.truthy(tostring(err):find("certificate", 1, true))
    end)
  end)
end)

describe("fake lifecycle", function()
  teardown(function()
    fake.stop()
  end)

  it("stop kills nginx by pid, removes its dir and is idempotent", function()
    local s = fake.start()
    pids[#pids + 1] = s.pid
    assert.is_true(alive(s.pid))
    fake.stop()
    assert.is_false(alive(s.pid))
    assert.is_nil(io.open(s.dir .. "/nginx.conf"))
    assert.is_nil((socket.connect("127.0.0.1", s.port)))
    fake.stop()
    assert.has_error(function() fake.reset() end)
  end)

  it("start replaces a running instance", function()
    local a = fake.start()
    local b = fake.start()
    pids[#pids + 1], pids[#pids + 2] = a.pid, b.pid
    assert.is_false(alive(a.pid))
    assert.is_true(alive(b.pid))
    assert.are.equal("pong", fake.ping())
    fake.stop()
  end)

  it("with-fake.lua runs a command with the environment and passes its status on", function()
    local out, script = os.tmpname(), os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([=[
lua5.4 -e 'local h = require "socket.http"; print(h.request(os.getenv("GENESYSCLOUD_BASE_URL") .. "/_fake/ping"))' >"$1"
env | grep -E '^(GENESYSCLOUD|DEMO|FAKE)_' | sort >>"$1"
lua5.4 -e 'local h, e, ltn12 = require "socket.http", os.getenv, require "ltn12"
local function b64(u, p) return "Basic " .. require("mime").b64(e(u) .. ":" .. e(p)) end
local out, body = {}, "grant_type=client_credentials"
h.request { url = e("GENESYSCLOUD_BASE_URL") .. "/oauth/token", method = "POST",
  proxy = e("FAKE_PROXY_URL"), sink = ltn12.sink.table(out), source = ltn12.source.string(body),
  headers = { authorization = b64("FAKE_OAUTH_CLIENT_ID", "FAKE_OAUTH_CLIENT_SECRET"),
    ["proxy-authorization"] = b64("FAKE_PROXY_USER", "FAKE_PROXY_PASSWORD"),
    ["content-type"] = "application/x-www-form-urlencoded", ["content-length"] = #body } }
print(table.concat(out))' >>"$1"
exit 3
]=])
    f:close()
    local _, code = execute("lua5.4 spec/support/with-fake.lua sh " .. script .. " " .. out)
    os.remove(script)
    assert.are.equal(3, code)
    f = assert(io.open(out))
    local text = f:read("*a")
    f:close()
    os.remove(out)
    assert.truthy(text:find("^pong\t200"))
    assert.truthy(text:find("GENESYSCLOUD_ACCESS_TOKEN=tok-admin", 1, true))
    assert.truthy(text:find("DEMO_USER_ID=" .. ALICE, 1, true))
    assert.truthy(text:find("DEMO_USER_TOKEN=tok-alice", 1, true))
    assert.truthy(text:find("GENESYSCLOUD_BASE_URL=http://127.0.0.1:%d+"))
    assert.truthy(text:find("FAKE_HTTPS_URL=https://127.0.0.1:%d+"))
    assert.truthy(text:find("FAKE_CA_FILE=/", 1, true))
    assert.truthy(text:find("FAKE_PROXY_URL=http://127.0.0.1:%d+"))
    assert.truthy(text:find("FAKE_OAUTH_CLIENT_ID=cc-admin-id", 1, true))
    -- the variables are enough to log in through the proxy
    assert.truthy(text:find('"access_token":"', 1, true))
    local pid = tonumber(text:match("FAKE_PID=(%d+)"))
    assert.truthy(pid)
    assert.is_false(alive(pid))
  end)

  it("leaves no nginx of this spec running", function()
    for _, pid in ipairs(pids) do
      assert.is_false(alive(pid), "nginx " .. pid .. " still running")
    end
  end)
end)
