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

-- Sends the same request on n connections at once, then reads every
-- answer: the requests are in flight together. Returns the raw() results.
local function concurrent(n, method, target, token)
  local socks = {}
  for i = 1, n do
    socks[i] = assert(socket.connect("127.0.0.1", srv.port))
    socks[i]:settimeout(10, "t")
    assert(socks[i]:send(method .. " " .. target .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      .. "Authorization: Bearer " .. token .. "\r\nConnection: close\r\n\r\n"))
  end
  local out = {}
  for i, c in ipairs(socks) do
    local data, _, partial = c:receive("*a")
    c:close()
    out[i] = { status = tonumber(((data or partial or ""):match("^HTTP/1%.%d (%d+)"))) }
  end
  return out
end

-- One response off a keep-alive connection: status and headers.
local function read_response(c)
  local line = assert(c:receive("*l"))
  local status, h = tonumber(line:match("^HTTP/1%.1 (%d+)")), {}
  for _ = 1, 100 do
    local l = assert(c:receive("*l"))
    if l == "" then break end
    local k, v = l:match("^([^:]+):%s*(.*)$")
    h[k:lower()] = v
  end
  local n = tonumber(h["content-length"] or 0)
  if n > 0 then assert(c:receive(n)) end
  return status, h
end

-- A small benchmark client: sends `method path` for every path over `conns`
-- keep-alive connections, one request in flight on each, as fast as the
-- answers come. Returns the statuses by path index and how many answers
-- asked to close the connection.
local function keepalive_load(method, paths, conns, token)
  local socks, busy, statuses, nxt, done, closes = {}, {}, {}, 1, 0, 0
  local function send_next(c)
    busy[c] = nil
    if nxt > #paths then return end
    busy[c] = nxt
    assert(c:send(method .. " " .. paths[nxt] .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      .. "Authorization: Bearer " .. token .. "\r\n\r\n"))
    nxt = nxt + 1
  end
  for k = 1, conns do
    socks[k] = assert(socket.connect("127.0.0.1", srv.port))
    socks[k]:settimeout(10)
    send_next(socks[k])
  end
  for _ = 1, #paths do -- each turn answers at least one request
    if done == #paths then break end
    local waiting = {}
    for _, c in ipairs(socks) do if busy[c] then waiting[#waiting + 1] = c end end
    local ready = socket.select(waiting, nil, 10)
    assert(#ready > 0, "no answer within 10 s")
    for _, c in ipairs(ready) do
      local status, h = read_response(c)
      if (h.connection or ""):lower() == "close" then closes = closes + 1 end
      statuses[busy[c]] = status
      done = done + 1
      send_next(c)
    end
  end
  for _, c in ipairs(socks) do c:close() end
  return statuses, closes
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
      local https = require "ssl.https" -- lua-sec, installed by make deps
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
      inactivityTimeoutUnit = "Hours", inactivityTimeoutGroupsEnabled = true,
      inactivityTimeoutGroupBundles = {
        { priority = 1, timeoutSeconds = 300, inactivityTimeoutUnit = "Minutes", groups = { "g-1", "g-2" } },
        { priority = 5, timeoutSeconds = 28800, inactivityTimeoutUnit = "Hours", groups = {} },
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
        -- The enum's spelling, not the prose's.
        { '{"inactivityTimeoutUnit":"MINUTES"}', "inactivityTimeoutUnit" },
        { '{"inactivityTimeoutGroupBundles":[{"inactivityTimeoutUnit":"HOURS"}]}',
          "inactivityTimeoutGroupBundles[0].inactivityTimeoutUnit" },
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

  describe("server configuration", function()
    local DEFAULTS = { rate_limit = { count = 300, window = 60, enforced = false }, latency = 0, log = true }

    local function rl(h)
      return { h["inin-ratelimit-count"], h["inin-ratelimit-allowed"], h["inin-ratelimit-reset"] }
    end

    it("configure merges settings, checks them and reset restores the defaults", function()
      assert.are.same(DEFAULTS, fake.config())
      assert.are.same({ rate_limit = DEFAULTS.rate_limit, latency = 0.01, log = true },
        fake.configure { latency = 0.01 })
      local cfg = fake.configure { log = false }
      assert.are.same({ 0.01, false }, { cfg.latency, cfg.log })
      -- giving rate_limit enforces it, unless it says otherwise
      assert.are.same({ count = 5, window = 60, enforced = true }, fake.configure { rate_limit = { count = 5 } }.rate_limit)
      assert.are.same({ count = 5, window = 2.5, enforced = false },
        fake.configure { rate_limit = { window = 2.5, enforced = false } }.rate_limit)
      for _, bad in ipairs {
        { bogus = 1 }, { latency = -1 }, { latency = "1" }, { latency = 61 }, { log = "no" },
        { rate_limit = 5 }, { rate_limit = { count = 0 } }, { rate_limit = { count = 1.5 } },
        { rate_limit = { window = 0 } }, { rate_limit = { window = "60" } },
        { rate_limit = { enforced = "yes" } }, { rate_limit = { limit = 1 } },
      } do
        assert.has_error(function() fake.configure(bad) end)
      end
      assert.are.same({ rate_limit = { count = 5, window = 2.5, enforced = false }, latency = 0.01, log = false },
        fake.config(), "a refused setting changes nothing")
      fake.reset()
      assert.are.same(DEFAULTS, fake.config())
    end)

    it("rate-limit headers count per token in a window that starts at its first request", function()
      fake.configure { rate_limit = { count = 3, window = 1.5, enforced = false } }
      for i = 1, 4 do -- not enforced: the 4th passes and is counted
        local status, _, h = api("GET", ME, "tok-alice")
        assert.are.equal(200, status)
        assert.are.same({ tostring(i), "3" }, { h["inin-ratelimit-count"], h["inin-ratelimit-allowed"] })
        -- ceil(1.5 - elapsed): 2 at first, 1 once half a second has gone
        local reset = h["inin-ratelimit-reset"]
        assert.is_true(reset == "2" or (i > 1 and reset == "1"), "reset " .. reset)
      end
      -- each token has its own window; errors count too, and so does no token
      assert.are.equal("1", select(3, api("GET", ME, "tok-bob-1"))["inin-ratelimit-count"])
      assert.are.equal("2", select(3, api("GET", "/api/v2/nowhere", "tok-bob-1"))["inin-ratelimit-count"])
      assert.are.equal("1", select(3, api("GET", ME, nil))["inin-ratelimit-count"])
      -- the login counts per client id
      local _, _, h1 = login(CC.admin.client_id, CC.admin.client_secret)
      local _, _, h2 = login(CC.admin.client_id, CC.admin.client_secret)
      local _, _, h3 = login(CC.short.client_id, CC.short.client_secret)
      assert.are.same({ "1", "2", "1" }, { h1["inin-ratelimit-count"], h2["inin-ratelimit-count"],
        h3["inin-ratelimit-count"] })
      -- once the window is over the count starts again
      socket.sleep(1.6)
      local _, _, h = api("GET", ME, "tok-alice")
      assert.are.same({ "1", "3", "2" }, rl(h))
    end)

    it("beyond the limit: 429 with Retry-After, not counted, and a pass after Retry-After", function()
      fake.configure { rate_limit = { count = 2, window = 2 } }
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
      local status, body, h = api("GET", ME, "tok-alice")
      assert.are.equal(429, status)
      local secs = tonumber(h["retry-after"])
      assert.is_true(secs >= 1 and secs <= 2, "Retry-After within the window, got " .. tostring(secs))
      assert.are.same({ "2", "2", h["retry-after"] }, rl(h))
      assert.are.same({
        message = "Rate limit exceeded the maximum. Retry the request in [" .. secs .. "] seconds",
        code = "too.many.requests.retry.after", status = 429, contextId = h["inin-correlation-id"],
        details = {}, errors = {}, limit = { key = "token.rate.per.minute", namespace = "platform.api", value = 2 },
      }, cjson.decode(body))
      -- a refused request does nothing and is not counted
      status, body, h = api("DELETE", ME, "tok-alice")
      assert.are.same({ 429, "2", "too.many.requests.retry.after" },
        { status, h["inin-ratelimit-count"], cjson.decode(body).code })
      assert.is_false(fake.state_token("tok-alice").revoked)
      -- other tokens have their own window
      assert.are.equal(200, (api("GET", ME, "tok-bob-1")))
      local statuses = {}
      for i, e in ipairs(fake.log()) do statuses[i] = e.status end
      assert.are.same({ 200, 200, 429, 429, 200 }, statuses, "refused requests are logged")
      socket.sleep(secs)
      status, body, h = api("GET", ME, "tok-alice")
      assert.are.same({ 200, "1", ACME }, { status, h["inin-ratelimit-count"], cjson.decode(body).organization.id })
    end)

    it("limits the login per client id, in the OAuth error shape", function()
      fake.configure { rate_limit = { count = 1, window = 2 } }
      assert.are.equal(200, (login(CC.admin.client_id, CC.admin.client_secret)))
      local status, res, h = login(CC.admin.client_id, CC.admin.client_secret)
      assert_oauth_error(429, "too_many_requests", status, res, h)
      assert.truthy(tonumber(h["retry-after"]) <= 2)
      assert.are.same({ "1", "1", h["retry-after"] }, rl(h))
      assert.are.equal(200, (login(CC.short.client_id, CC.short.client_secret)))
      assert.are.equal(2, #fake.issued_tokens(), "no token for the refused login")
    end)

    it("takes fractional windows, and faults bypass the limiter", function()
      fake.configure { rate_limit = { count = 1, window = 0.5 } }
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
      local status, _, h = api("GET", ME, "tok-alice")
      assert.are.same({ 429, "1" }, { status, h["retry-after"] })
      -- a fault answers in the API's place: neither refused nor counted
      fake.fault { kind = "status", status = 503 }
      status, _, h = api("GET", ME, "tok-alice")
      assert.are.same({ 503 }, { status, h["inin-ratelimit-count"] })
      socket.sleep(0.55) -- less than the Retry-After of 1: the window really is 0.5 s
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
      fake.configure { rate_limit = { count = 2, window = 2.5 } }
      assert.are.same({ "1", "2", "3" }, rl(select(3, api("GET", ME, "tok-alice"))))
    end)

    it("latency: every answer waits it, and concurrent requests overlap", function()
      fake.configure { latency = 0.3 }
      local got = concurrent(4, "GET", ME, "tok-alice")
      for i = 1, 4 do assert.are.equal(200, got[i].status) end
      local entries = fake.log()
      assert.are.equal(4, #entries)
      local last_start, first_end = 0, math.huge
      for _, e in ipairs(entries) do
        assert.is_true(e.finished - e.time >= 0.29, "waited " .. (e.finished - e.time))
        last_start, first_end = math.max(last_start, e.time), math.min(first_end, e.finished)
      end
      assert.is_true(last_start < first_end, "all four were in flight at once")
      -- a 429 and a fault wait too
      fake.reset()
      fake.configure { latency = 0.2, rate_limit = { count = 1 } }
      fake.fault { kind = "status", status = 500, times = 1 }
      local statuses = {}
      for i = 1, 3 do statuses[i] = (api("GET", ME, "tok-alice")) end
      assert.are.same({ 500, 200, 429 }, statuses)
      for _, e in ipairs(fake.log()) do
        assert.is_true(e.finished - e.time >= 0.19, e.status .. " waited " .. (e.finished - e.time))
      end
    end)

    it("log = false records nothing; state and revocations still change", function()
      fake.configure { log = false }
      assert.are.equal(200, (api("GET", ME, "tok-alice")))
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/" .. BOB, "tok-admin")))
      assert.are.equal(200, (login(CC.admin.client_id, CC.admin.client_secret)))
      assert.are.same({}, fake.log())
      assert.is_true(fake.state_token("tok-bob-1").revoked)
      assert.are.same({ [BOB] = 1 }, fake.revocations())
      fake.configure { log = true }
      api("GET", ME, "tok-alice")
      assert.are.equal(1, #fake.log())
    end)

    it("revocations counts the successful DELETE /api/v2/tokens/{userId} per user", function()
      assert.are.same({}, fake.revocations())
      for _ = 1, 2 do assert.are.equal(204, (api("DELETE", "/api/v2/tokens/" .. BOB, "tok-admin"))) end
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/odd%2Fuser%3Fid%231%20%C3%BC", "tok-admin")))
      -- not counted: unknown user, no permission, /me, refused by the limiter
      assert.are.equal(404, (api("DELETE", "/api/v2/tokens/no-such-user", "tok-admin")))
      assert.are.equal(403, (api("DELETE", "/api/v2/tokens/" .. ALICE, "tok-alice")))
      assert.are.equal(204, (api("DELETE", ME, "tok-alice")))
      fake.configure { rate_limit = { count = 1 } }
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/" .. ALICE, "tok-admin")))
      assert.are.equal(429, (api("DELETE", "/api/v2/tokens/" .. ALICE, "tok-admin")))
      assert.are.same({ [BOB] = 2, [ODD] = 1, [ALICE] = 1 }, fake.revocations())
      fake.reset()
      assert.are.same({}, fake.revocations())
    end)

    it("add_users makes many users with a token each in one request", function()
      local ids, toks = fake.add_users { count = 3, prefix = "load-" }
      assert.are.same({ "load-00001", "load-00002", "load-00003" }, ids)
      assert.are.same({ "tok-load-00001", "tok-load-00002", "tok-load-00003" }, toks)
      assert.are.equal(ids[2], fake.state_token(toks[2]).user_id)
      assert.are.equal(ids[2], fake.state().users[ids[2]].id)
      assert.are.equal(200, (api("GET", ME, toks[2])))
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/" .. ids[2], "tok-admin")))
      assert.are.same({ 200, 401, 200 }, { (api("GET", ME, toks[1])), (api("GET", ME, toks[2])),
        (api("GET", ME, toks[3])) })
      -- no live tokens left, still a user: 204, and counted again
      assert.are.equal(204, (api("DELETE", "/api/v2/tokens/" .. ids[2], "tok-admin")))
      assert.are.same({ [ids[2]] = 2 }, fake.revocations())
      -- nothing is made when one exists; start continues a series
      assert.has_error(function() fake.add_users { count = 5, prefix = "load-" } end)
      assert.is_nil(fake.state().users["load-00004"])
      assert.are.same({ "load-00004" }, (fake.add_users { count = 1, prefix = "load-", start = 4 }))
      for _, bad in ipairs { {}, { count = 0 }, { count = 50001 }, { count = 1.5 }, { count = 1, prefix = 5 } } do
        assert.has_error(function() fake.add_users(bad) end)
      end
      ids = fake.add_users { count = 2000 }
      assert.are.same({ 2000, "bulk-00001", "bulk-02000" }, { #ids, ids[1], ids[2000] })
    end)

    it("serves a benchmark: 2000 user revocations over 64 keep-alive connections", function()
      fake.configure { latency = 0.05, log = false }
      local ids, toks = fake.add_users { count = 2000 }
      local paths = {}
      for i, id in ipairs(ids) do paths[i] = "/api/v2/tokens/" .. id end
      local statuses, closes = keepalive_load("DELETE", paths, 64, "tok-admin")
      local n204 = 0
      for i = 1, #paths do if statuses[i] == 204 then n204 = n204 + 1 end end
      assert.are.same({ 2000, 0 }, { n204, closes })
      local rv, n = fake.revocations(), 0
      for _, id in ipairs(ids) do
        if rv[id] == 1 then n = n + 1 end
      end
      assert.are.equal(2000, n, "every id revoked exactly once")
      assert.is_true(fake.state_token(toks[1]).revoked and fake.state_token(toks[2000]).revoked)
      assert.are.same({}, fake.log())
    end)

    it("keeps a connection open past 1000 requests and takes 600 at once", function()
      fake.configure { log = false }
      local paths = {}
      for i = 1, 1100 do paths[i] = "/api/v2/tokens/" .. BOB end
      local statuses, closes = keepalive_load("DELETE", paths, 1, "tok-admin")
      assert.are.same({ 204, 204, 0 }, { statuses[1], statuses[1100], closes })
      assert.are.same({ [BOB] = 1100 }, fake.revocations())
      -- more than the old 256 worker_connections, all in flight together
      fake.configure { latency = 0.3 }
      local got, ok = concurrent(600, "GET", ME, "tok-alice"), 0
      for _, r in ipairs(got) do if r.status == 200 then ok = ok + 1 end end
      assert.are.equal(600, ok)
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
      local https = require "ssl.https" -- lua-sec, installed by make deps
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
