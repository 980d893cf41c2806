-- genesys.tokens inside nginx: which phases may call (cosockets), which
-- refuse (a call would block the worker), and proof that concurrent
-- validations do not wait for each other.
local fake = require "spec.support.fake"
local openresty = require "spec.support.openresty"
local socket = require "socket"

local unpack = table.unpack or unpack -- luacheck: ignore (5.1 global)

-- n requests sent at once on n connections, read as they complete (a
-- select loop, bounded by `timeout`). Returns the statuses.
local function concurrent_get(url, path, headers, n, timeout)
  local host, port = url:match("^http://([^:/]+):(%d+)")
  local request = "GET " .. path .. " HTTP/1.1\r\nHost: " .. host .. "\r\nConnection: close\r\n"
  for k, v in pairs(headers) do request = request .. k .. ": " .. v .. "\r\n" end
  request = request .. "\r\n"
  local conns = {}
  for i = 1, n do
    local s = socket.tcp()
    s:settimeout(5)
    assert(s:connect(host, tonumber(port)))
    assert(s:send(request))
    s:settimeout(0)
    conns[i] = { sock = s, parts = {} }
  end
  local deadline, open = socket.gettime() + timeout, n
  while open > 0 and socket.gettime() < deadline do
    local waiting, by_sock = {}, {}
    for _, c in ipairs(conns) do
      if not c.done then
        waiting[#waiting + 1] = c.sock
        by_sock[c.sock] = c
      end
    end
    local readable = socket.select(waiting, nil, 0.5)
    for _, s in ipairs(readable) do
      local c = by_sock[s]
      local data, err, partial = s:receive(8192)
      c.parts[#c.parts + 1] = data or partial
      if err == "closed" then
        c.done = true
        open = open - 1
        s:close()
      end
    end
  end
  local statuses = {}
  for i, c in ipairs(conns) do
    if not c.done then c.sock:close() end
    statuses[i] = tonumber(table.concat(c.parts):match("^HTTP/1%.%d (%d%d%d)"))
  end
  return statuses
end

describe("inside nginx", function()
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

  local function agents()
    local out = {}
    for _, e in ipairs(fake.log()) do out[#out + 1] = e.headers["user-agent"] end
    return out
  end

  local BLOCKED = "^blocked: cannot call Genesys Cloud in nginx's ([%w_]+) phase without blocking the worker: "
    .. "call it from rewrite, access or content, or from ngx%.timer%.at%(0, %.%.%.%), or build the client "
    .. "with allow_blocking = true"

  it("refuses a call in init, where cosockets do not exist", function()
    local _, body = openresty.get("/phase/init")
    assert.equal("init", body:match(BLOCKED))
  end)

  it("refuses a call in set, header_filter and log", function()
    local _, body = openresty.get("/phase/set")
    assert.equal("set", body:match(BLOCKED))
    local _, _, headers = openresty.get("/phase/header_filter")
    assert.equal("header_filter", headers["x-verdict"]:match(BLOCKED))
    openresty.get("/phase/log")
    local _, result = openresty.get("/phase/log/result")
    assert.equal("log", result:match(BLOCKED))
    assert.equal(0, #fake.log(), "nothing was sent from those phases")
  end)

  it("calls with libcurl in a blocking phase when the client allows it", function()
    local _, body = openresty.get("/phase/set/allowed")
    assert.equal("ok: Acme Corp (set)", body)
    assert.matches(" libcurl/", agents()[1])
  end)

  it("calls over cosockets in rewrite, access, content and timers", function()
    for _, path in ipairs { "/phase/rewrite", "/phase/access" } do
      local status, _, headers = openresty.get(path)
      assert.equal(200, status)
      assert.equal("ok: Acme Corp", headers["x-verdict"], path)
    end
    local _, body = openresty.get("/phase/timer")
    assert.equal("ok: Acme Corp\n", body)
    assert.is_truthy(openresty.call({ client = { base_url = srv.http_url, access_token = "tok-admin" },
      call = "me" }).value)
    local seen = agents()
    assert.equal(4, #seen)
    for _, agent in ipairs(seen) do assert.matches(" ngx_lua/", agent) end
  end)

  it("refuses options cosockets cannot honour, instead of ignoring them", function()
    local o = openresty.call { client = { base_url = srv.http_url, ca_file = srv.ca_file }, call = "me" }
    assert.matches("ca_file applies to libcurl only: inside nginx, cosockets trust lua_ssl_trusted_certificate", o.raised)
    o = openresty.call { client = { base_url = srv.http_url, proxy = srv.proxy_url }, call = "me" }
    assert.matches("proxy applies to libcurl only", o.raised)
    o = openresty.call { client = { base_url = srv.http_url, ca_file = srv.ca_file, transport = "curl",
      access_token = "tok-admin" }, call = "me" }
    assert.is_truthy(o.value, "transport = 'curl' takes ca_file")
  end)

  it("refuses transport = 'ngx' outside nginx", function()
    local tokens = require "genesys.tokens"
    assert.error_matches(function() tokens.new { transport = "ngx" } end, "transport 'ngx' needs OpenResty")
    assert.error_matches(function() tokens.new { transport = "socket" } end, "transport must be auto, curl or ngx")
  end)

  it("runs revoke_many over cosockets, with light threads that overlap", function()
    local ids = fake.add_users { count = 16, prefix = "n-" }
    fake.configure { latency = 0.2 }
    local o = openresty.call { client = { base_url = srv.http_url, access_token = "tok-admin" },
      call = "revoke_many", args = { { ids[1], "me", ids[2], ids[1], unpack(ids, 3) }, { concurrency = 8 } } }
    assert.is_nil(o.raised)
    local results = o.value
    assert.equal(16, results.succeeded)
    assert.equal(1, results.invalid)
    assert.equal(1, results.duplicates)
    assert.equal("invalid", results[2].err.kind)
    assert.is_true(results[1].ok)
    for _, id in ipairs(ids) do assert.equal(1, fake.revocations()[id]) end
    local log = fake.log()
    table.sort(log, function(a, b) return a.time < b.time end)
    local first_answer = math.huge
    for i = 1, 8 do first_answer = math.min(first_answer, log[i].finished) end
    for i = 1, 8 do
      assert.is_true(log[i].time < first_answer, "request " .. i .. " waited")
      assert.matches(" ngx_lua/", log[i].headers["user-agent"])
    end
  end)

  it("validates 100 concurrent requests in one worker without one waiting for another", function()
    local n, delay = 100, 1
    fake.fault { kind = "delay", seconds = delay, times = n, method = "HEAD" }
    local started = socket.gettime()
    local statuses = concurrent_get(openresty.app.url, "/validate", { Authorization = "Bearer tok-alice" }, n, 60)
    local elapsed = socket.gettime() - started
    for i = 1, n do assert.equal(200, statuses[i], "request " .. i) end

    -- The fake saw every validation arrive before the first one was
    -- answered: the worker had them all in flight at once. A blocking call
    -- would have sent them one after another, `delay` apart.
    local log = fake.log()
    assert.equal(n, #log)
    local last_arrival, first_answer = 0, math.huge
    for _, e in ipairs(log) do
      assert.equal("HEAD", e.method)
      last_arrival = math.max(last_arrival, e.time)
      first_answer = math.min(first_answer, e.finished)
    end
    assert.is_true(last_arrival < first_answer, "validations overlapped")
    io.stderr:write(("\n[openresty] %d concurrent validations against a %.1f s endpoint: %.2f s in all\n")
      :format(n, delay, elapsed))
  end)
end)
