-- Where the time of one client:me() goes (make bench-profile): the call
-- taken apart in layers, each measured against the fast endpoint
-- (spec/bench/fast_server.lua) on one keep-alive connection:
--
--   raw       libcurl alone (build/bench/raw_curl): the lower bound
--   c_core    the C core alone, no Lua (build/bench/core_loop): URL, header
--             list, response headers, the body in the client's buffer
--   core      the Lua binding's transport:me(token): the same, then the
--             result table with the body as a Lua string
--   decode    the same, then the body decoded (json.decode_object:
--             lua-cjson, nulls dropped, integers made)
--   me        client:me(): decode + the Lua layer (options, token, retry
--             loop, last_response, error handling)
--
--   lua5.4 spec/bench/profile_me.lua            timing: us/call; the layers take turns (lockstep.lua)
--   lua5.4 spec/bench/profile_me.lua callgrind  instructions/call of each layer (valgrind), then
--                                                the top functions of `me` (symbolized interpreter)
--   lua5.4 spec/bench/profile_me.lua layer NAME URL CALLS|serve WARMUP   one loop (used by the above)
--   lua5.4 spec/bench/profile_me.lua piece cjson|decode_only|constructor COUNT  the TokenInfo without HTTP
-- BENCH_PROFILE_LUA=luajit runs the Lua layers on LuaJIT (build/luajit) instead.
-- Run from the repository root after make, make build/bench/raw_curl build/bench/core_loop.
package.path = "./?.lua;./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = (jit and "./build/luajit/?.so;" or "./build/5.4/?.so;") .. package.cpath

local TOKEN = "bench-access-token-0123456789abcdef"
local LAYERS = { "c_core", "core", "decode", "me" }

---------------------------------------------------------------- one layer

-- The loop body of a layer, for a client at base_url.
local function layer_body(name, base_url)
  local tokens = require "genesys.tokens"
  local c = tokens.new { base_url = base_url, access_token = TOKEN }
  local t = c._transport
  local json = require "genesys.tokens.json"
  local bodies = {
    core = function() return t:me(TOKEN, false).status == 200 end,
    decode = function()
      local res = t:me(TOKEN, false)
      return res.status == 200 and json.decode_object(res.body) ~= nil
    end,
    me = function() return c:me() ~= nil end,
  }
  local f = assert(bodies[name], "unknown layer " .. tostring(name))
  local info = assert(c:me())
  assert(info.organization.name == "Acme Contact Center" and info.authorizedScope[4] == "oauth:token:delete"
    and info.OAuthClient.roleDivisions[1].divisionId == "*", "the TokenInfo differs")
  assert(c:last_response().ratelimit.allowed == 100000000, "last_response() differs")
  return f, c
end

-- CALLS timed calls after WARMUP untimed ones; with CALLS "serve", turns
-- as spec/bench/lockstep.lua takes them (see me_loop.lua).
local function run_layer(name, url, calls, warmup)
  local core = require "genesys.tokens.core"
  local f = layer_body(name, url)
  local function loop(n)
    local t0 = core.now()
    for _ = 1, n do assert(f(), "call failed") end
    return core.now() - t0
  end
  local warm = loop(warmup)
  if calls == "serve" then
    io.stdout:setvbuf("line")
    print(("READY rate=%.1f"):format(warmup / warm))
    for line in io.stdin:lines() do print(("DONE %.6f"):format(loop(assert(tonumber(line))))) end
    return
  end
  calls = assert(tonumber(calls))
  local elapsed = loop(calls)
  print(("RESULT calls=%d seconds=%.6f rate=%.1f"):format(calls, elapsed, calls / elapsed))
end

-- The same TokenInfo without HTTP, COUNT times: decoded from its text by
-- lua-cjson alone ("cjson"), by json.decode_object ("decode_only": cjson,
-- then nulls dropped and integers made), or made by a table constructor
-- in Lua source ("constructor": what building these nine tables costs Lua
-- itself, garbage collection included).
local function lua_source(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i, x in ipairs(v) do parts[i] = lua_source(x) end
  local keys = {}
  for k in pairs(v) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = ("[%q] = %s"):format(k, lua_source(v[k])) end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local function run_piece(name, count)
  local json = require "genesys.tokens.json"
  local cjson = require "cjson.safe"
  local body = require("spec.bench.fast_server").BODY
  local f
  if name == "cjson" then
    f = function() return cjson.decode(body) end
  elseif name == "decode_only" then
    f = function() return json.decode_object(body) end
  elseif name == "constructor" then
    f = assert(load("return function() return " .. lua_source(assert(json.decode_object(body))) .. " end"))()
  else
    error("unknown piece " .. tostring(name))
  end
  for _ = 1, count do assert(f().organization) end
end

if arg[1] == "layer" then
  run_layer(arg[2], arg[3], arg[4], tonumber(arg[5]))
  return
elseif arg[1] == "piece" then
  run_piece(arg[2], assert(tonumber(arg[3])))
  return
end

---------------------------------------------------------------- drivers

local common = require "spec.bench.common"
local fast = require "spec.bench.fast_server"
local q = common.q
local RAW = os.getenv("BENCH_RAW_CURL") or "build/bench/raw_curl"
local CORE_LOOP = os.getenv("BENCH_CORE_LOOP") or "build/bench/core_loop"
-- The interpreter of the layers: lua5.4 (default) or luajit.
local LUA = os.getenv("BENCH_PROFILE_LUA") or "lua5.4"

local function pinning(srv)
  local nproc = tonumber((common.capture("nproc"):match("%d+"))) or 1
  if nproc < 2 or os.getenv("BENCH_PIN") == "none" then return "" end
  for wpid in common.capture("pgrep -P " .. srv.pid):gmatch("%d+") do
    common.execute("taskset -pc " .. (nproc - 1) .. " " .. wpid .. " >/dev/null")
  end
  return "taskset -c " .. (nproc - 1) .. " "
end

local function command(name, srv, calls, warmup)
  if name == "raw" then
    return q(RAW) .. " " .. q(srv.url .. "/api/v2/tokens/me") .. " " .. calls .. " " .. warmup
  end
  if name == "c_core" then
    return q(CORE_LOOP) .. " " .. q(srv.url) .. " " .. calls .. " " .. warmup
  end
  return LUA .. " spec/bench/profile_me.lua layer " .. name .. " " .. q(srv.url) .. " " .. calls .. " " .. warmup
end

local DESCRIBE = {
  raw = "libcurl alone (C), the lower bound",
  c_core = "+ the C core, no Lua: URL, header list, response headers, body buffer",
  core = "+ Lua: the binding's result table, the body as a string",
  decode = "+ the body decoded: lua-cjson, nulls dropped, integers made",
  me = "+ client:me(): the Lua layer",
}

-- Microseconds a call of each layer: the layers take turns (lockstep.lua),
-- ROUNDS cycles of about 0.2 s each; a step is the median over the cycles
-- of the difference between a layer and the one before it in that cycle.
local function timing()
  local lockstep = require "spec.bench.lockstep"
  local nginx = require "spec.support.nginx"
  local rounds = tonumber(os.getenv("BENCH_PROFILE_ROUNDS") or "") or 40
  local names = { "raw" }
  for _, n in ipairs(LAYERS) do names[#names + 1] = n end
  local srv = fast.start()
  local dir = nginx.tempdir("benchprofile")
  local run
  local us = {}
  local ok, err = pcall(function()
    local prefix = pinning(srv)
    local clients = {}
    for _, n in ipairs(names) do
      us[n] = {}
      clients[#clients + 1] = { key = n, name = n, cmd = command(n, srv, "serve", 2000) }
    end
    run = lockstep.start(clients, { dir = dir, prefix = prefix })
    for round = 1, rounds do
      for i = 0, #run.clients - 1 do
        local c = run.clients[(round - 1 + i) % #run.clients + 1]
        local n = math.max(100, math.floor(c.warm_rate * 0.2))
        us[c.key][round] = 1e6 * lockstep.turn(c, n) / n
      end
      if round % 10 == 0 then io.stderr:write(("profile: round %d/%d done\n"):format(round, rounds)) end
    end
  end)
  if run then lockstep.stop(run) end
  fast.stop(srv)
  nginx.remove_tempdir(dir)
  if not ok then error(err, 0) end
  print(("%s: us per call, medians of %d cycles of turns (pinned: nginx and client on one CPU)"):format(LUA, rounds))
  print(("%-9s %9s %9s %9s  %s"):format("layer", "us/call", "step", "vs raw", "what the step adds"))
  for i, n in ipairs(names) do
    local steps, ratios = {}, {}
    for r = 1, rounds do
      steps[r] = i > 1 and us[n][r] - us[names[i - 1]][r] or 0
      ratios[r] = us[n][r] / us.raw[r]
    end
    print(("%-9s %9.2f %+9.2f %9.2f  %s"):format(n, common.median(us[n]), common.median(steps),
      common.median(ratios), DESCRIBE[n]))
  end
  local shares = {}
  for r = 1, rounds do shares[r] = us.raw[r] / us.me[r] end
  print(("calls/s as a share of raw libcurl: me %.2f (median of the cycles)"):format(common.median(shares)))
end

-- Instructions per call of each layer: two runs of different lengths under
-- callgrind, so start-up cancels out.
local function callgrind()
  local n1, n2 = 300, 1300
  local srv = fast.start()
  local ok, err = pcall(function()
    local names = { "raw" }
    for _, n in ipairs(LAYERS) do names[#names + 1] = n end
    print(("instructions per call (valgrind callgrind, runs of %d and %d calls)"):format(n1, n2))
    print(("%-9s %12s %12s  %s"):format("layer", "Ir/call", "step", "what the step adds"))
    local prev
    for _, n in ipairs(names) do
      local ir = {}
      for i, calls in ipairs { n1, n2 } do
        local out = common.run("valgrind --tool=callgrind --callgrind-out-file=/dev/null "
          .. command(n, srv, calls, 100) .. " 2>&1")
        ir[i] = tonumber((out:match("Collected : (%d+)")))
        if not ir[i] then error(n .. " under callgrind failed:\n" .. out) end
      end
      local per = (ir[2] - ir[1]) / (n2 - n1)
      local step = prev and per - prev or 0
      print(("%-9s %12.0f %+12.0f  %s"):format(n, per, step, DESCRIBE[n]))
      prev = per
    end

    -- The decode on its own, and its floor.
    print()
    print(("the same TokenInfo without HTTP (runs of %d and %d)"):format(10 * n1, 10 * n2))
    for _, piece in ipairs {
      { "cjson", "decoded from its 619 bytes by lua-cjson alone" },
      { "decode_only", "json.decode_object: lua-cjson, then nulls dropped and integers made" },
      { "constructor", "a table constructor in Lua source: the nine tables alone" },
    } do
      local ir = {}
      for i, count in ipairs { 10 * n1, 10 * n2 } do
        local out = common.run(("valgrind --tool=callgrind --callgrind-out-file=/dev/null %s spec/bench/profile_me.lua "
          .. "piece %s %d 2>&1"):format(LUA, piece[1], count))
        ir[i] = tonumber((out:match("Collected : (%d+)")))
        if not ir[i] then error(piece[1] .. " under callgrind failed:\n" .. out) end
      end
      print(("%-12s %9.0f  %s"):format(piece[1], (ir[2] - ir[1]) / (10 * (n2 - n1)), piece[2]))
    end

    -- The top functions of `me`, with an interpreter linked statically
    -- against liblua5.4.a so that the VM's functions have names.
    local plua = common.OUT_DIR .. "/plua"
    if not common.execute(("gcc -O2 -g -I/usr/include/lua5.4 spec/support/asan_lua.c -o %s -Wl,-E "
        .. "-Wl,--whole-archive /usr/lib/x86_64-linux-gnu/liblua5.4.a -Wl,--no-whole-archive -lm -ldl"):format(plua)) then
      print("(no symbolized interpreter: liblua5.4.a missing)")
      return
    end
    local outfile = common.OUT_DIR .. "/callgrind.me.out"
    local cmd = ("valgrind --tool=callgrind --callgrind-out-file=%s %s spec/bench/profile_me.lua layer me %s %d 100 2>&1")
      :format(outfile, plua, q(srv.url), n2)
    common.run(cmd)
    print()
    print(("top functions of `me` by own instructions (%d calls; callgrind_annotate %s):"):format(n2, outfile))
    local report = common.run("callgrind_annotate " .. outfile .. " 2>/dev/null")
    local shown = 0
    for line in report:gmatch("[^\n]+") do
      local count, pct, fn = line:match("^%s*([%d,]+) %(%s*([%d%.]+)%%%)%s+(.+)$")
      if count and not fn:match("PROGRAM TOTALS") then
        shown = shown + 1
        print(("  %6s%%  %s"):format(pct, fn:gsub("%s+%[.*/", " ["):gsub("^%?%?%?:", "")))
        if shown >= 25 then break end
      end
    end
  end)
  fast.stop(srv)
  if not ok then error(err, 0) end
end

if arg[1] == "callgrind" then callgrind() else timing() end
