-- examples/nginx-gate run as a user would: its own nginx.conf, with only
-- ports and paths replaced, in front of an upstream that echoes the request
-- headers it got, checking tokens against the fake Genesys Cloud.
local fake = require "spec.support.fake"
local nginx = require "spec.support.nginx"
local cjson = require "cjson"
local socket = require "socket"

local REQUEST_TIMEOUT = 10 -- seconds per request to the gate

local seed = fake.seed
local ACME = seed.orgs.acme.id
local read_file = nginx.read_file

-- The repository root, whatever the current directory.
local ROOT = nginx.dir_of_caller():gsub("/spec$", "")

local function replace(text, old, new)
  return nginx.replace_all(text, old, new, "examples/nginx-gate/nginx.conf")
end

-- What the spec adds inside the http block: the upstream, which answers
-- with the request headers it received as JSON, and a way to empty the
-- gate's cache between tests.
local UPSTREAM = [[
    server {
        listen 127.0.0.1:%d;
        location / {
            default_type application/json;
            content_by_lua_block { ngx.print(require("cjson").encode(ngx.req.get_headers(0))) }
        }
        location = /_spec/flush {
            content_by_lua_block { ngx.shared.genesys_gate:flush_all() ngx.print("flushed") }
        }
    }
]]

-- nginx's temp files go into the temp dir, not /var/lib/nginx.
local temp_paths = nginx.temp_paths

-- The example's nginx.conf with its ports, paths and settings replaced.
local function gate_conf(dir, gate_port, upstream_port, ca_file)
  local conf = assert(read_file(ROOT .. "/examples/nginx-gate/nginx.conf"))
  for _, r in ipairs {
    { "127.0.0.1:8080", "127.0.0.1:" .. gate_port },
    { "127.0.0.1:8081", "127.0.0.1:" .. upstream_port },
    { "/usr/local/share/lua/5.1", ROOT .. "/lua" },
    { "/usr/local/lib/lua/5.1", ROOT .. "/build/luajit" },
    { "/etc/ssl/certs/ca-certificates.crt", ca_file },
    { "/run/nginx-genesys-gate.pid", dir .. "/nginx.pid" },
    -- info: the log the token must never reach gets everything the gate says.
    { "/var/log/nginx/genesys-gate.error.log notice", dir .. "/error.log info" },
    { "/var/log/nginx/genesys-gate.access.log", dir .. "/access.log" },
    { "worker_processes auto;", "worker_processes 2;" },
    { "negative_ttl = 10,", "negative_ttl = 2," },         -- so that expiry can be seen
    { "stale_ttl = 30,", "stale_ttl = 30, timeout = 1," }, -- so that a slow answer fails fast
    { "http {", "http {\n" .. temp_paths(dir) },
  } do
    conf = replace(conf, r[1], r[2])
  end
  local last = assert(conf:find("}%s*$"), "nginx.conf does not end with the http block's }")
  return conf:sub(1, last - 1) .. UPSTREAM:format(upstream_port) .. "}\n"
end

-- One request to the gate; returns status, body, headers (names in lower case).
local function request(url, headers)
  local status, body, response_headers = nginx.request(url, "GET", nil, REQUEST_TIMEOUT, headers)
  assert(status, "request to the gate failed: " .. tostring(body))
  return status, body, response_headers
end

-- Starts the gate's nginx in a temp dir; returns { pid, dir, url, upstream_url }.
local function start_gate(srv)
  -- nginx loads the C core built for its LuaJIT (a no-op when up to date).
  assert(nginx.execute("cd " .. nginx.q(ROOT) .. " && make -s LUA_VERSION=luajit >/dev/null"),
    "could not build the C core for LuaJIT (make LUA_VERSION=luajit)")
  local dir = nginx.tempdir("gate")
  local ok, pid, ports = pcall(nginx.start, {
    dir = dir, nports = 2,
    -- The example reads its Genesys Cloud from the environment (env directive).
    env = { GENESYSCLOUD_BASE_URL = srv.http_url, GENESYSCLOUD_REGION = "" },
    render = function(p)
      return nginx.user_line() .. "\n" .. gate_conf(dir, p[1], p[2], srv.ca_file)
    end,
    ready_url = function(p) return "http://127.0.0.1:" .. p[1] .. "/" end,
    ready = function(status) return status == 401 end, -- it refuses a request without a token
  })
  if not ok then
    nginx.remove_tempdir(dir)
    error(pid, 2)
  end
  return { pid = pid, dir = dir, url = "http://127.0.0.1:" .. ports[1],
    upstream_url = "http://127.0.0.1:" .. ports[2] }
end

describe("examples/nginx-gate", function()
  local srv, gate
  local sent_tokens = {} -- every token the spec sent, looked for in the logs at the end

  lazy_setup(function()
    srv = fake.start()
    gate = start_gate(srv)
  end)

  lazy_teardown(function()
    if gate then
      nginx.stop(gate.pid)
      nginx.remove_tempdir(gate.dir)
    end
    fake.stop()
  end)

  -- A request to the gate with `token` (or the whole Authorization header
  -- in `authorization`) and extra headers.
  local function get(opts)
    local headers = {}
    for k, v in pairs(opts.headers or {}) do headers[k] = v end
    if opts.token then
      sent_tokens[#sent_tokens + 1] = opts.token
      headers.authorization = "Bearer " .. opts.token
    end
    if opts.authorization then headers.authorization = opts.authorization end
    return request(gate.url .. (opts.path or "/anything"), headers)
  end

  -- The GET /api/v2/tokens/me requests the fake received with `token`.
  local function me_calls(token)
    local calls = {}
    for _, e in ipairs(fake.log()) do
      if e.path == "/api/v2/tokens/me" and e.headers.authorization == "Bearer " .. token then
        calls[#calls + 1] = e
      end
    end
    return calls
  end

  describe("with Genesys Cloud up", function()
    before_each(function()
      fake.reset()
      assert.equal(200, (request(gate.upstream_url .. "/_spec/flush")))
    end)

    it("passes a valid token's org and OAuth client ids to the upstream, not the client's own", function()
      local status, body = get { token = "tok-alice", path = "/orders?id=7", headers = {
        ["X-Genesys-Org-Id"] = "forged-org", ["x-genesys-oauth-client-id"] = "forged-client", ["X-Custom"] = "kept",
        ["X_Genesys_Org_Id"] = "forged-org", -- nginx drops names with underscores by default
      } }
      assert.equal(200, status, body)
      local seen = cjson.decode(body)
      assert.equal(ACME, seen["x-genesys-org-id"])
      assert.equal(seed.clients.web_app.id, seen["x-genesys-oauth-client-id"])
      assert.equal("kept", seen["x-custom"])
      assert.is_nil(seen["x_genesys_org_id"])
      assert.equal("Bearer tok-alice", seen.authorization) -- the gate strips nothing else
    end)

    it("asks Genesys Cloud once per token, with preserveIdleTTL=true, and answers the rest from its cache", function()
      for _ = 1, 10 do
        local status, body = get { token = "tok-admin" }
        assert.equal(200, status)
        assert.equal(seed.clients.admin_tool.id, cjson.decode(body)["x-genesys-oauth-client-id"])
      end
      local calls = me_calls("tok-admin")
      assert.equal(1, #calls)
      assert.equal("GET", calls[1].method)
      assert.equal("/api/v2/tokens/me?preserveIdleTTL=true", calls[1].request_uri)

      assert.equal(200, (get { token = "tok-bob-1" }))
      assert.equal(200, (get { token = "tok-bob-1" }))
      assert.equal(1, #me_calls("tok-bob-1"))
      assert.equal(2, #fake.log())
    end)

    it("refuses a token Genesys Cloud rejects with 401 invalid_token, and remembers it for negative_ttl", function()
      for _ = 1, 3 do
        local status, _, headers = get { token = "tok-nobody-knows" }
        assert.equal(401, status)
        assert.equal('Bearer realm="genesys", error="invalid_token"', headers["www-authenticate"])
      end
      assert.equal(1, #me_calls("tok-nobody-knows"))
      socket.sleep(2.5) -- negative_ttl is 2 in this configuration
      assert.equal(401, (get { token = "tok-nobody-knows" }))
      assert.equal(2, #me_calls("tok-nobody-knows"))
    end)

    it("refuses a request without a well-formed bearer token without asking Genesys Cloud", function()
      for _, authorization in ipairs {
        false, "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer two words", "Token tok-alice", "Bearertok-alice",
      } do
        local status, _, headers = get { authorization = authorization or nil }
        assert.equal(401, status, tostring(authorization))
        assert.equal('Bearer realm="genesys"', headers["www-authenticate"])
      end
      assert.equal(0, #fake.log())
    end)

    it("lets nginx refuse a request with two Authorization headers, without asking Genesys Cloud", function()
      -- luasocket sends each header once: write this request by hand. nginx
      -- answers 400 itself, and logs the second line at info level, so these
      -- two tokens are not among those looked for in the logs.
      local conn = assert(socket.connect("127.0.0.1", tonumber(gate.url:match(":(%d+)$"))))
      conn:settimeout(REQUEST_TIMEOUT)
      assert(conn:send("GET / HTTP/1.1\r\nHost: gate\r\nAuthorization: Bearer tok-dup-1\r\n"
        .. "Authorization: Bearer tok-dup-2\r\nConnection: close\r\n\r\n"))
      local response = conn:receive("*a")
      conn:close()
      assert.matches("^HTTP/1%.1 400 ", response)
      assert.equal(0, #fake.log())
    end)

    it("answers 503 while Genesys Cloud fails, caches nothing, and passes the token once it is back", function()
      fake.fault { kind = "status", status = 503, times = 10 }
      assert.equal(503, (get { token = "tok-bob-2" }))
      local after_one = #me_calls("tok-bob-2")
      assert.is_true(after_one >= 1)
      assert.equal(503, (get { token = "tok-bob-2" }))
      assert.is_true(#me_calls("tok-bob-2") > after_one) -- asked again: the failure was not cached

      fake.reset() -- the fault is gone
      assert.equal(200, (get { token = "tok-bob-2" }))
      assert.equal(1, #me_calls("tok-bob-2"))
    end)

    it("answers 503 when Genesys Cloud is slower than the timeout, then asks again", function()
      fake.fault { kind = "delay", seconds = 3, times = 1 } -- the gate's timeout is 1 s here
      assert.equal(503, (get { token = "tok-odd" }))
      assert.equal(200, (get { token = "tok-odd" }))
      assert.equal(2, #me_calls("tok-odd"))
    end)

    it("answers 503 with the Retry-After of a 429 it cannot wait for", function()
      fake.fault { kind = "429", retry_after = 30, times = 1 }
      local status, _, headers = get { token = "tok-cloned" }
      assert.equal(503, status)
      assert.equal("30", headers["retry-after"])
      assert.equal(200, (get { token = "tok-cloned" }))
    end)
    it("answers 403 to a valid token of another organization", function()
      fake.add_token { token = "tok-other-org", user_id = seed.users.bob.id, org_id = seed.orgs.trustor.id }
      assert.equal(403, (get { token = "tok-other-org" }))
      assert.equal(1, #me_calls("tok-other-org"))
    end)

    it("logs a token out on /logout: revoked at Genesys Cloud and refused from the next request", function()
      fake.add_token { token = "tok-leaving", user_id = seed.users.bob.id }
      assert.equal(200, (get { token = "tok-leaving" }))
      assert.equal(200, (get { token = "tok-leaving" })) -- cached
      assert.equal(204, (get { token = "tok-leaving", path = "/logout" }))
      assert.is_true(fake.state_token("tok-leaving").revoked)
      local status, _, headers = get { token = "tok-leaving" }
      assert.equal(401, status) -- within ttl (60 s): the verdict was forgotten
      assert.equal('Bearer realm="genesys", error="invalid_token"', headers["www-authenticate"])
      assert.equal(204, (get { token = "tok-leaving", path = "/logout" })) -- already gone: still logged out
      assert.equal(401, (get { path = "/logout" }))
    end)

    it("serves Prometheus metrics on /metrics", function()
      assert.equal(200, (get { token = "tok-alice" }))
      local status, body, headers = request(gate.url .. "/metrics")
      assert.equal(200, status)
      assert.equal("text/plain; version=0.0.4", headers["content-type"])
      assert.matches('genesys_gate_requests_total{outcome="allowed"} %d+', body)
      assert.matches('genesys_gate_genesys_calls_total{status="2xx"} [1-9]', body)
    end)
  end)

  -- These two run last, in this order: the fake stops for good.
  it("answers 503 when Genesys Cloud cannot be reached", function()
    fake.stop()
    assert.equal(503, (get { token = "tok-nulls" }))
  end)

  it("never writes a token to its logs", function()
    local log = assert(read_file(gate.dir .. "/error.log"))
    assert.matches("genesys gate: checking tokens at " .. srv.http_url:gsub("%p", "%%%0"), log)
    assert.matches("genesys gate: no verdict, answering 503", log) -- so the failures were logged
    local everything = log .. (read_file(gate.dir .. "/nginx.out") or "") .. (read_file(gate.dir .. "/access.log") or "")
    assert.is_true(#sent_tokens > 0)
    for _, token in ipairs(sent_tokens) do
      assert.is_nil(everything:find(token, 1, true), "the logs contain " .. token)
    end
  end)
end)
