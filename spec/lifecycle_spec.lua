-- Lifecycle and concurrency: clients closed under a coroutine that uses
-- them, dropped and collected (bulk runs included), many at once,
-- revoke_many stopped or orphaned from on_progress, close() twice,
-- tostring and <close>. Nothing may crash, leak descriptors, lose or
-- repeat a revocation, or leave a client half usable.
local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"

local TOKEN = "tok-admin"
local BOB = fake.seed.users.bob.id
local CLOSED = "^spec/lifecycle_spec%.lua:%d+: genesys%.tokens: attempt to use a closed client$"

-- Can a coroutine yield from inside a pcall (Lua 5.2+, LuaJIT)? The
-- library calls loggers and on_progress through pcall.
local YIELD_ACROSS_PCALL = (function()
  local co = coroutine.create(function() pcall(coroutine.yield, "yielded") end)
  local _, v = coroutine.resume(co)
  return v == "yielded"
end)()

-- The process's open descriptors (nil where /proc is missing).
local PID = (function()
  local f = io.open("/proc/self/stat")
  if not f then return nil end
  local pid = f:read("*l"):match("^(%d+)")
  f:close()
  return pid
end)()

local function open_fds()
  if not PID then return nil end
  collectgarbage()
  collectgarbage()
  local p = io.popen("ls /proc/" .. PID .. "/fd")
  local n = 0
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n
end

-- Descriptors back to (about) `baseline`: what the fake's control
-- requests leave open is not ours.
local function assert_no_fd_leak(baseline, what)
  if not baseline then return end
  local now = open_fds()
  assert(now <= baseline + 4, ("%s: %d descriptors open, %d before"):format(what, now, baseline))
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- The message `f` raises, run from a frame of this file.
local function raised(f)
  local ok, err = pcall(f)
  assert(not ok, "did not raise")
  return tostring(err)
end

-- Each call a client makes, from a frame of this file.
local CALLS = {
  { "me", function(c) local v, e = c:me() return v, e end },
  { "verify", function(c) local v, e = c:verify() return v, e end },
  { "revoke_me", function(c) local v, e = c:revoke_me() return v, e end },
  { "revoke", function(c) local v, e = c:revoke(BOB) return v, e end },
  { "idle_timeout", function(c) local v, e = c:idle_timeout() return v, e end },
  { "set_idle_timeout", function(c) local v, e = c:set_idle_timeout { idleTokenTimeoutSeconds = 1800 } return v, e end },
  { "revoke_many", function(c) local v, e = c:revoke_many { BOB } return v, e end },
}

describe("lifecycle", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  local function client(extra)
    local opts = { base_url = srv.http_url, access_token = TOKEN, timeout = 5, retry = false }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return tokens.new(opts)
  end

  local function api_requests()
    local n = 0
    for _, e in ipairs(fake.log()) do if e.server == "api" then n = n + 1 end end
    return n
  end

  ------------------------------------------------------------ closing

  describe("a closed client", function()
    for _, call in ipairs(CALLS) do
      it(call[1] .. " raises 'closed client' in a coroutine that held the client across close()", function()
        local c = client()
        local co = coroutine.create(function()
          assert(c:me(), "open: the call works")
          coroutine.yield("holding")
          return raised(function() local v, e = call[2](c) return v, e end)
        end)
        assert.same({ true, "holding" }, { coroutine.resume(co) })
        c:close()
        local requests = api_requests()
        local ok, msg = coroutine.resume(co)
        assert.is_true(ok, msg)
        assert.matches(CLOSED, msg)
        assert.equal(requests, api_requests(), "a request was sent")
        -- ...and in a coroutine that starts after close().
        local later = coroutine.wrap(function() return raised(function() local v, e = call[2](c) return v, e end) end)
        assert.matches(CLOSED, later())
      end)
    end

    it("close() twice is a no-op; tostring says closed and shows no secret; last_response still answers", function()
      local c = client()
      assert(c:me())
      assert.not_matches("closed", tostring(c))
      c:close()
      c:close()
      assert.equal(("genesys.tokens client (%s) closed"):format(srv.http_url), tostring(c))
      assert.equal(200, c:last_response().status) -- a copy kept in Lua: no I/O
      local never_used = client()
      never_used:close()
      never_used:close()
      assert.matches("closed$", tostring(never_used))
      local cc = tokens.new { base_url = srv.http_url, client_id = "cc-admin-id", client_secret = "cc-admin-secret" }
      assert(cc:me())
      cc:close()
      local shown = tostring(cc)
      assert.matches("closed$", shown)
      assert.not_matches("cc%-admin%-secret", shown)
      for _, issued in ipairs(fake.issued_tokens("cc-admin-id")) do
        assert.is_nil(shown:find(issued.token, 1, true))
      end
      assert.matches(CLOSED, raised(function() local v = cc:me() return v end))
    end)

    it("closed by its own logger during a call: that call still returns, the next raises", function()
      local c
      c = client { log_level = "debug", logger = function() c:close() end }
      local info, err = c:me()
      assert(info, tostring(err))
      assert.matches(CLOSED, raised(function() local v = c:me() return v end))
    end)

    it("closed by its own logger before a retry: the call raises 'closed client'", function()
      -- Regression: the retry reached the C core's closed handle, whose
      -- message was blamed on the library's own line.
      fake.fault { kind = "status", status = 503 }
      local c
      c = client { retry = { base_delay = 0.01, max_delay = 0.01 }, log_level = "debug",
        logger = function() c:close() end }
      local msg = raised(function() local v = c:me() return v end)
      assert.matches("genesys%.tokens: attempt to use a closed client$", msg)
      assert.not_matches("client%.lua", msg)
      assert.equal(1, api_requests())
    end)

    if YIELD_ACROSS_PCALL then
      it("closed by another coroutine while a call waits in its logger: 'closed client' on resume", function()
        fake.fault { kind = "status", status = 503 }
        local co
        local c = client { retry = { base_delay = 0.01, max_delay = 0.01 }, log_level = "debug",
          logger = function(_, e) if coroutine.running() == co then coroutine.yield(e.status) end end }
        co = coroutine.create(function() return raised(function() local v = c:me() return v end) end)
        assert.same({ true, 503 }, { coroutine.resume(co) })
        c:close()
        local ok, msg = coroutine.resume(co)
        assert.is_true(ok, msg)
        assert.equal("dead", coroutine.status(co))
        assert.matches("genesys%.tokens: attempt to use a closed client$", msg)
        assert.not_matches("client%.lua", msg)
        assert.equal(1, api_requests())
      end)

      it("two coroutines interleaving calls on one client each get their own answer", function()
        fake.fault { kind = "status", status = 503, path = "/api/v2/tokens/me" }
        local co
        local c = client { retry = { base_delay = 0.01, max_delay = 0.01 }, log_level = "debug",
          logger = function() if coroutine.running() == co then coroutine.yield() end end }
        co = coroutine.create(function() return c:me() end)
        assert.is_true(coroutine.resume(co)) -- suspended after its 503, before the retry
        local t = assert(c:idle_timeout()) -- the same handle, meanwhile
        assert.is_number(t.idleTokenTimeoutSeconds)
        local info
        for _ = 1, 10 do -- each logged attempt yields once
          local ok, v = coroutine.resume(co)
          assert.is_true(ok, v)
          if coroutine.status(co) == "dead" then info = v break end
        end
        assert.equal("Acme Corp", info.organization.name)
        c:close()
      end)
    else
      pending("a call suspended in its logger: this Lua cannot yield across pcall")
    end

    local load_54 = _VERSION == "Lua 5.4" and load([[
      local tokens, opts = ...
      local kept, unwound
      do
        local c <close> = tokens.new(opts)
        kept = c
        assert(c:me())
      end
      local ok, err = pcall(function()
        local c <close> = tokens.new(opts)
        unwound = c
        error("boom")
      end)
      return kept, unwound, ok, err
    ]])
    if load_54 then
      it("<close> closes the client at the end of its block and when an error unwinds it", function()
        local kept, unwound, ok, err = load_54(tokens, { base_url = srv.http_url, access_token = TOKEN })
        assert.is_false(ok)
        assert.matches("boom", err)
        for _, c in ipairs { kept, unwound } do
          assert.matches("closed$", tostring(c))
          assert.matches(CLOSED, raised(function() local v = c:me() return v end))
        end
      end)
    else
      pending("<close>: Lua 5.4 only")
    end
  end)

  ------------------------------------------------------------ many clients

  describe("many clients", function()
    it("1,000 clients dropped without close() are collected, and a new client works", function()
      local baseline = open_fds()
      local weak = setmetatable({}, { __mode = "k" })
      for i = 1, 1000 do
        local c = client { user_agent = "gc/" .. i, headers = { ["X-N"] = tostring(i) } }
        weak[c] = true
      end
      collectgarbage()
      collectgarbage()
      assert.equal(0, count(weak))
      assert_no_fd_leak(baseline, "after 1,000 clients")
      assert(client():me())
    end)

    it("200 clients at once, each doing one me(): all answered, each on its own connection, nothing leaks", function()
      local baseline = open_fds()
      local clients = {}
      for i = 1, 200 do clients[i] = client() end
      for i, c in ipairs(clients) do
        local info, err = c:me()
        assert(info, ("client %d: %s"):format(i, tostring(err)))
      end
      local conns = {}
      for _, e in ipairs(fake.log()) do conns[e.connection] = true end
      assert.equal(200, count(conns))
      for i = 1, 100 do clients[i]:close() end -- half closed, half dropped
      clients = nil -- luacheck: ignore 311
      assert_no_fd_leak(baseline, "after 200 clients")
      assert(client():me())
    end)
  end)

  ------------------------------------------------------------ revoke_many

  describe("revoke_many", function()
    it("stopped by an error in on_progress: a clear error, in-flight requests finish, nothing repeats", function()
      local baseline = open_fds()
      local ids = fake.add_users { count = 20, prefix = "e-" }
      fake.configure { latency = 0.05 }
      local c = client()
      local calls = 0
      local msg = raised(function()
        local r = c:revoke_many(ids, { concurrency = 4, on_progress = function()
          calls = calls + 1
          if calls == 3 then error("disk full") end
        end })
        return r
      end)
      assert.matches("^spec/lifecycle_spec%.lua:%d+: genesys%.tokens: on_progress raised: .*disk full", msg)
      assert.equal(3, calls, "on_progress was called again after it raised")
      -- What was in flight finished (none cut off), and nothing new started.
      local revocations = fake.revocations()
      local log = fake.log()
      assert.equal(count(revocations), #log)
      for _, e in ipairs(log) do
        assert.equal(204, e.status)
        assert.is_true(e.completed)
      end
      assert.is_true(#log >= 3 and #log <= 3 + 4, #log .. " requests")
      for id, n in pairs(revocations) do assert.equal(1, n, id) end
      -- The client still works: the rest, once each.
      fake.configure { latency = 0 }
      assert(c:me())
      local rest = {}
      for _, id in ipairs(ids) do if not revocations[id] then rest[#rest + 1] = id end end
      local results = assert(c:revoke_many(rest))
      assert.equal(#rest, results.succeeded)
      revocations = fake.revocations()
      assert.equal(20, count(revocations))
      for _, id in ipairs(ids) do assert.equal(1, revocations[id], id) end
      c:close()
      assert_no_fd_leak(baseline, "after the stopped run")
    end)

    it("whose client is closed from on_progress: the run goes on to the end, then the client is closed", function()
      -- The run has its own copy of the settings and its own connections
      -- (gt_bulk), so close() neither crashes it nor stops it.
      local ids = fake.add_users { count = 20, prefix = "k-" }
      local c = client()
      local calls = 0
      local results = assert(c:revoke_many(ids, { concurrency = 4, on_progress = function()
        calls = calls + 1
        if calls == 3 then c:close() end
      end }))
      assert.equal(20, calls)
      assert.equal(20, results.succeeded)
      local revocations = fake.revocations()
      for _, id in ipairs(ids) do assert.equal(1, revocations[id], id) end
      assert.matches("closed$", tostring(c))
      assert.matches(CLOSED, raised(function() local v = c:me() return v end))
      assert.matches(CLOSED, raised(function() local v = c:revoke_many(ids) return v end))
    end)

    it("a client whose run was abandoned by an error is collected without harm", function()
      local baseline = open_fds()
      local ids = fake.add_users { count = 12, prefix = "g-" }
      fake.configure { latency = 0.05 }
      local weak = setmetatable({}, { __mode = "k" })
      do
        local c = client()
        weak[c] = true
        assert.matches("on_progress raised: .*stop here", raised(function()
          local r = c:revoke_many(ids, { concurrency = 4, on_progress = function() error("stop here") end })
          return r
        end))
      end
      collectgarbage()
      collectgarbage()
      assert.equal(0, count(weak))
      assert_no_fd_leak(baseline, "after the collected client")
      for id, n in pairs(fake.revocations()) do assert.equal(1, n, id) end
      fake.configure { latency = 0 }
      assert(client():me())
    end)

    if YIELD_ACROSS_PCALL then
      -- A coroutine suspended in on_progress leaves transfers in flight.
      local function suspended_run(c, ids)
        local co = coroutine.create(function()
          return c:revoke_many(ids, { concurrency = 4, on_progress = function(done) coroutine.yield(done) end })
        end)
        assert.same({ true, 1 }, { coroutine.resume(co) })
        return co
      end

      it("a run suspended in on_progress and dropped, with its client, is collected: transfers aborted", function()
        local baseline = open_fds()
        local ids = fake.add_users { count = 20, prefix = "s-" }
        fake.configure { latency = 0.3 }
        local weak = setmetatable({}, { __mode = "k" })
        do
          local c = client()
          local co = suspended_run(c, ids)
          weak[c], weak[co] = true, true
        end
        collectgarbage()
        collectgarbage()
        assert.equal(0, count(weak))
        assert_no_fd_leak(baseline, "after the orphaned run")
        fake.configure { latency = 0 }
        local revocations = fake.revocations()
        assert.is_true(count(revocations) < 20)
        for id, n in pairs(revocations) do assert.equal(1, n, id) end
        assert(client():me())
      end)

      if coroutine.close then
        it("a run suspended in on_progress ended by coroutine.close is collected", function()
          local baseline = open_fds()
          local ids = fake.add_users { count = 20, prefix = "z-" }
          fake.configure { latency = 0.3 }
          local c = client()
          local co = suspended_run(c, ids)
          assert.is_true(coroutine.close(co))
          co = nil -- luacheck: ignore 311
          assert_no_fd_leak(baseline, "after coroutine.close")
          fake.configure { latency = 0 }
          assert(c:me(), "the client works")
          c:close()
        end)
      end

      it("a run suspended in on_progress goes on when resumed after its client was closed", function()
        local ids = fake.add_users { count = 8, prefix = "r-" }
        local c = client()
        local co = suspended_run(c, ids)
        c:close()
        local results
        for _ = 1, 20 do
          local ok, v = coroutine.resume(co)
          assert.is_true(ok, v)
          if coroutine.status(co) == "dead" then results = v break end
        end
        assert.equal(8, results.succeeded)
        for _, id in ipairs(ids) do assert.equal(1, fake.revocations()[id], id) end
      end)
    else
      pending("a run suspended in on_progress: this Lua cannot yield across pcall")
    end
  end)
end)
