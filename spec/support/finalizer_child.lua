-- Run by spec/finalizers_spec.lua in a fresh interpreter (a small heap, so
-- that a collection at every allocation is cheap): calls with finalizers
-- about that act only when they run inside the call under test.
--   LUA finalizer_child.lua MODE BASE_URL [USER_ID...]
-- MODE: me (a __gc closes the core client during me()), bulk (a __gc
-- closes the client while it makes a bulk run), poll (a __gc closes a bulk
-- run during poll()), raise (a __gc raises during poll()).
-- Prints "inside N" and what the mode checked; exits 1 on a broken check.
local mode, base_url = arg[1], arg[2]
local unpack = table.unpack or unpack -- luacheck: ignore (5.1's global)
local ids = { select(3, unpack(arg)) }
local core = require "genesys.tokens.core"

local function check(cond, message)
  if not cond then
    io.stderr:write("finalizer_child: ", message, "\n")
    os.exit(1)
  end
end

local function garbage_with(f)
  if newproxy then
    getmetatable(newproxy(true)).__gc = f -- Lua 5.1 and LuaJIT run __gc on userdata only
  else
    setmetatable({}, { __gc = f })
  end
end

-- Collection at every allocation: each step a whole cycle, finalizers
-- included, so a finalizer runs at the first allocation after its object
-- died.
collectgarbage("setpause", 0)
collectgarbage("setstepmul", _VERSION == "Lua 5.4" and 1000 or 1000000)
collectgarbage("collect")

local phase, inside, note = "out", 0, nil
local function act_inside(act)
  garbage_with(function()
    if phase == "in" then
      inside = inside + 1
      act()
    end
  end)
end

local started = os.clock()
local function rounds() return os.clock() - started < 5 and inside < 3 end

local c = core.new { base_url = base_url, timeout_ms = 5000 }
if mode == "me" then
  while rounds() do
    local closed_inside = inside
    act_inside(function()
      local ok, err = pcall(c.last_response, c) -- a call during the call: refused
      note = note or (not ok and tostring(err))
      c:close()
    end)
    phase = "in"
    local ok, res = pcall(c.me, c, "tok-admin")
    phase = "out"
    if not ok then
      -- The finalizer ran as the call began, before it took the client.
      check(tostring(res):find("closed", 1, true), tostring(res))
      c = core.new { base_url = base_url, timeout_ms = 5000 }
    elseif inside > closed_inside then
      check(res.status == 200 and res.body:find('"Acme Corp"', 1, true), "me() gave " .. tostring(res.status))
      check(c:closed(), "the close waited for the call, then happened")
      check(not pcall(c.me, c, "tok-admin"), "a closed client refuses calls")
      c = core.new { base_url = base_url, timeout_ms = 5000 }
    else
      check(res.status == 200 and res.body:find('"Acme Corp"', 1, true), "me() gave " .. tostring(res.status))
    end
  end
  check(note and note:find("busy", 1, true), "a call from the finalizer was refused: " .. tostring(note))
elseif mode == "bulk" then
  while rounds() do
    local before = inside
    act_inside(function() c:close() end)
    phase = "in"
    local ok, b = pcall(c.bulk, c, 4)
    phase = "out"
    if ok then
      check(inside == before, "a bulk run from a client closed while making it")
      b:close()
    else
      check(tostring(b):find("closed", 1, true), tostring(b))
      c = core.new { base_url = base_url, timeout_ms = 5000 }
    end
  end
elseif mode == "poll" or mode == "raise" then
  local next_id, finished = 0, {}
  local b = c:bulk(4)
  -- Made once: a closure made each round would be the allocation that
  -- runs the finalizer, outside the call.
  local function poll_once()
    phase = "in"
    local list = b:poll(0.05)
    phase = "out"
    return list
  end
  while rounds() and next_id < #ids do
    while b:free_slots() > 0 and next_id < #ids do
      next_id = next_id + 1
      check(b:start(next_id, "tok-admin", ids[next_id]) == true, "start")
    end
    local before = inside
    if mode == "poll" then
      act_inside(function() b:close() end)
    else
      act_inside(function() error("a finalizer that raises") end)
    end
    local ok, got = pcall(poll_once)
    phase = "out"
    if not ok and mode == "poll" then
      -- The finalizer ran as the call began, before it took the run.
      check(tostring(got):find("closed bulk run", 1, true), "poll raised: " .. tostring(got))
      got = {}
    elseif not ok then
      check(tostring(got):find("a finalizer that raises", 1, true), tostring(got))
      note = "raised"
      got = b:poll(0) -- what the failed poll held
    end
    for _, pair in ipairs(got) do
      check(pair[2].status == 204, "status " .. tostring(pair[2].status))
      check(not finished[pair[1]], "a result came twice")
      finished[pair[1]] = true
    end
    if mode == "poll" and (inside > before or not ok) then
      check(not pcall(b.poll, b, 0), "the close waited for poll, then happened")
      -- What was in flight went with it: start those again on a new run.
      b = c:bulk(4)
      for tag = 1, next_id do
        if not finished[tag] then check(b:start(tag, "tok-admin", ids[tag]) == true, "restart") end
      end
    end
  end
  -- The rest, without finalizers.
  for _ = 1, 200 do
    if b:in_flight() == 0 then break end
    for _, pair in ipairs(b:poll(0.05)) do finished[pair[1]] = true end
  end
  local n = 0
  for _ in pairs(finished) do n = n + 1 end
  check(n == next_id, ("%d of %d results came back"):format(n, next_id))
  print("finished " .. n)
end
print("inside " .. inside .. " " .. tostring(note))
