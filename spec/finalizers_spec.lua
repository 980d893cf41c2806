-- Finalizers that run inside a call. Any allocation may run a __gc, and
-- the binding allocates while it reads a response out of the C client's
-- buffers into Lua values: a __gc that closes the client (or the bulk run)
-- there must not free what the call is reading (the close waits until the
-- call returns), one that calls the client again is refused, and one that
-- raises loses no finished revocation. Run under make valgrind and make
-- asan, a use after free here is a reported error.
local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"

local BOB = fake.seed.users.bob.id

local nginx = require "spec.support.nginx"

local LUA = os.getenv("LUA") or "lua5.4"

-- An object whose finalizer is `f` (Lua 5.1 and LuaJIT run __gc on
-- userdata only).
local function garbage_with(f)
  if newproxy then
    getmetatable(newproxy(true)).__gc = f
  else
    setmetatable({}, { __gc = f })
  end
end

-- Lua 5.1-5.3 and LuaJIT pass a finalizer's error on to the allocation
-- that ran it; Lua 5.4 turns it into a warning.
local PROPAGATES = not pcall(function()
  garbage_with(function() error("finalizer error") end)
  collectgarbage("collect")
  collectgarbage("collect")
end)

describe("finalizers during a call", function()
  local srv

  lazy_setup(function() srv = fake.start() end)
  lazy_teardown(function() fake.stop() end)
  before_each(function() fake.reset() end)

  -- spec/support/finalizer_child.lua in a fresh interpreter (the one the
  -- specs run on; under make asan, the sanitizers' own).
  local function child(mode, ids)
    local cmd = ("LUA_PATH=%s LUA_CPATH=%s %s spec/support/finalizer_child.lua %s %s %s 2>&1"):format(
      nginx.q(package.path), nginx.q(package.cpath), LUA, mode, srv.http_url, table.concat(ids or {}, " "))
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    local ok = p:close()
    assert(ok, out)
    local inside, note = out:match("inside (%d+) (%S+)")
    assert(inside, out)
    return tonumber(inside), note, out
  end

  it("a __gc that closes the client while me() reads the response: the result is whole, the close "
    .. "waits for the call, a call from the finalizer is refused", function()
    local inside, _, out = child("me")
    assert.is_true(inside > 0, out)
    assert.matches("client is busy", out)
  end)

  it("a __gc that closes the client while it makes a bulk run: 'closed client', never a bulk run of a freed "
    .. "client", function()
    local inside, _, out = child("bulk")
    assert.is_true(inside > 0, out)
  end)

  it("a __gc that closes a bulk run while poll() reads what finished: the results are whole, the close "
    .. "waits for poll", function()
    local ids = fake.add_users { count = 400, prefix = "gcpoll-" }
    local inside, _, out = child("poll", ids)
    assert.is_true(inside > 0, out)
  end)

  it("a __gc that raises while poll() reads what finished: poll raises (Lua 5.1-5.3, LuaJIT), and the "
    .. "next poll gives what it held: no result lost or doubled", function()
    local ids = fake.add_users { count = 400, prefix = "gcraise-" }
    local inside, note, out = child("raise", ids)
    assert.is_true(inside > 0, out)
    if PROPAGATES then assert.equal("raised", note, out) end
    local n = tonumber(out:match("finished (%d+)"))
    local revoked = fake.revocations()
    local count = 0
    for _, times in pairs(revoked) do
      assert.equal(1, times)
      count = count + 1
    end
    assert.equal(n, count, out)
  end)

  it("a __gc that closes the client through the public API during calls: a result or 'closed client', "
    .. "never a crash", function()
    local pause = collectgarbage("setpause", 0)
    local stepmul = collectgarbage("setstepmul", 1000)
    for _ = 1, 30 do
      local c = tokens.new { base_url = srv.http_url, access_token = "tok-admin", timeout = 5, retry = false }
      garbage_with(function() c:close() end)
      local ok, info = pcall(c.me, c)
      if ok then
        assert.equal("Acme Corp", info.organization.name)
      else
        assert.matches("attempt to use a closed .*client", tostring(info))
      end
      garbage_with(function() c:close() end)
      ok, info = pcall(c.revoke_many, c, { BOB, "nobody-1" })
      if ok then assert.equal(2, #info) else assert.matches("closed", tostring(info)) end
      c:close()
    end
    collectgarbage("setpause", pause)
    collectgarbage("setstepmul", stepmul)
  end)
end)

describe("a client made in a coroutine that is gone", function()
  it("still works: its calls read no state of that coroutine (Lua 5.1 and LuaJIT watched it for Ctrl-C)", function()
    local core = require "genesys.tokens.core"
    local c
    local co = coroutine.create(function() c = core.new { base_url = "http://127.0.0.1:1", timeout_ms = 200 } end)
    assert(coroutine.resume(co))
    co = nil -- luacheck: ignore (dropped on purpose)
    collectgarbage()
    collectgarbage()
    for _ = 1, 3 do assert.equal("network", c:me("tok").kind) end
    c:close()
  end)
end)

describe("bulk poll timeouts", function()
  it("takes any number of seconds (huge, negative, NaN, infinite) without undefined behaviour", function()
    local core = require "genesys.tokens.core"
    local c = core.new { base_url = "http://127.0.0.1:1", timeout_ms = 1000 }
    local b = c:bulk(1)
    for _, t in ipairs { 1e300, -1e300, 0 / 0, math.huge, -math.huge, 2 ^ 31, 2 ^ 53, -0.0 } do
      assert.same({}, b:poll(t)) -- nothing in flight: at once
    end
    b:close()
    c:close()
  end)
end)
