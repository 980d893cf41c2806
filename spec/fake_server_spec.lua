-- Proves the fake Genesys Cloud API (spec/support/fake*) behaves as the
-- other specs expect. Run from the repo root:
--   lua5.4 /usr/bin/busted spec/fake_server_spec.lua
package.path = "./?.lua;" .. package.path

local fake = require "spec.support.fake"
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local seed = fake.seed
local ALICE, BOB, ODD = seed.users.alice.id, seed.users.bob.id, seed.users.odd.id
local ACME, TRUSTOR = seed.orgs.acme.id, seed.orgs.trustor.id
local ME = "/api/v2/tokens/me"

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
local function request(method, url, token, body, extra)
  local out = {}
  local headers = { accept = "application/json" }
  if token then headers.authorization = "Bearer " .. token end
  if body then
    headers["content-type"] = "application/json"
    headers["content-length"] = #body
  end
  for k, v in pairs(extra or {}) do headers[k] = v end
  local r, status, h = http.request {
    url = url, method = method, headers = headers, redirect = false,
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
local function raw(port, method, target, token, timeout)
  local c = assert(socket.connect("127.0.0.1", port))
  c:settimeout(timeout or 10, "t")
  local req = method .. " " .. target .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    .. (token and ("Authorization: Bearer " .. token .. "\r\n") or "")
    .. "Connection: close\r\n\r\n"
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
      assert.are.equal(401, raw(srv.port, "HEAD", ME, "tok-nope").status)
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

  describe("https", function()
    it("serves a certificate for 127.0.0.1 and localhost signed by the CA", function()
      local cert = srv.dir .. "/server.pem"
      for _, check in ipairs { "-verify_ip 127.0.0.1", "-verify_hostname localhost" } do
        assert.is_true(os.execute("openssl verify -CAfile '" .. srv.ca_file .. "' " .. check
          .. " '" .. cert .. "' >/dev/null 2>&1") == true)
      end
      assert.is_false(os.execute("openssl verify -CAfile '" .. srv.ca_file .. "' -verify_hostname example.com '"
        .. cert .. "' >/dev/null 2>&1") == true)
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
exit 3
]=])
    f:close()
    local _, _, code = os.execute("lua5.4 spec/support/with-fake.lua sh " .. script .. " " .. out)
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
