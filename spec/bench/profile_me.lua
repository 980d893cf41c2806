-- Where the time of one client:me() goes (make bench-profile): the call
-- taken apart in layers, each measured against the fast endpoint
-- (spec/bench/fast_server.lua) on one keep-alive connection, Lua 5.4:
--
--   raw       libcurl alone (build/bench/raw_curl): the lower bound
--   core      the C core's transport:me(token): libcurl, header parsing,
--             the result table with the body as a Lua string
--   decode    the same, the body decoded by the core into tables instead
--             (src/lua_json.c: what me() uses)
--   me        client:me(): decode + run() (options, token, retries, last_response)
--
--   lua5.4 spec/bench/profile_me.lua            timing: us/call, median of ROUNDS interleaved rounds
--   lua5.4 spec/bench/profile_me.lua callgrind  instructions/call of each layer (valgrind), then
--                                                the top functions of `me` (symbolized interpreter)
--   lua5.4 spec/bench/profile_me.lua layer NAME URL CALLS WARMUP   one loop (used by the above)
-- BENCH_PROFILE_LUA=luajit runs the layers on LuaJIT (build/luajit) instead.
-- Run from the repository root after make, make build/bench/raw_curl.
package.path = "./?.lua;./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = (jit and "./build/luajit/?.so;" or "./build/5.4/?.so;") .. package.cpath

local TOKEN = "bench-access-token-0123456789abcdef"
local LAYERS = { "core", "decode", "me" }

---------------------------------------------------------------- one layer

-- The loop body of a layer, for a client at base_url.
local function layer_body(name, base_url)
  local tokens = require "genesys.tokens"
  local c = tokens.new { base_url = base_url, access_token = TOKEN }
  local t = c._transport
  local bodies = {
    core = function() return t:me(TOKEN, false, false).status == 200 end,
    decode = function() local info, status = t:me(TOKEN, false, true) return status == 200 and info ~= nil end,
    me = function() return c:me() ~= nil end,
  }
  local f = assert(bodies[name], "unknown layer " .. tostring(name))
  local info = assert(c:me())
  assert(info.organization.name == "Acme Contact Center" and info.authorizedScope[4] == "oauth:token:delete"
    and info.OAuthClient.roleDivisions[1].divisionId == "*", "the TokenInfo differs")
  assert(c:last_response().ratelimit.allowed == 100000000, "last_response() differs")
  return f, c
end

local function run_layer(name, url, calls, warmup)
  local core = require "genesys.tokens.core"
  local f = layer_body(name, url)
  for _ = 1, warmup do assert(f(), "call failed") end
  local t0 = core.now()
  for _ = 1, calls do assert(f(), "call failed") end
  local elapsed = core.now() - t0
  print(("RESULT calls=%d seconds=%.6f rate=%.1f"):format(calls, elapsed, calls / elapsed))
end

if arg[1] == "layer" then
  run_layer(arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5]))
  return
end

---------------------------------------------------------------- drivers

local common = require "spec.bench.common"
local fast = require "spec.bench.fast_server"
local q = common.q
local RAW = os.getenv("BENCH_RAW_CURL") or "build/bench/raw_curl"
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
  return LUA .. " spec/bench/profile_me.lua layer " .. name .. " " .. q(srv.url) .. " " .. calls .. " " .. warmup
end

local DESCRIBE = {
  raw = "libcurl alone (C), the lower bound",
  core = "+ C core: request setup, header parsing, result table, body string",
  decode = "the body decoded by the core into tables instead of a string",
  me = "+ run(): options, token, retries, last_response",
}

local function timing()
  local rounds = tonumber(os.getenv("BENCH_PROFILE_ROUNDS") or "") or 5
  local calls = tonumber(os.getenv("BENCH_PROFILE_CALLS") or "") or 20000
  local names = { "raw" }
  for _, n in ipairs(LAYERS) do names[#names + 1] = n end
  local srv = fast.start()
  local us = {}
  local ok, err = pcall(function()
    local prefix = pinning(srv)
    for _, n in ipairs(names) do us[n] = {} end
    for round = 1, rounds do
      for i = 0, #names - 1 do
        local n = names[(round - 1 + i) % #names + 1]
        local out, good = common.run(prefix .. command(n, srv, calls, 2000) .. " 2>&1")
        local r = common.parse_result(out)
        if not good or not r then error(n .. " failed:\n" .. out) end
        us[n][#us[n] + 1] = 1e6 / r.rate
      end
      io.stderr:write(("profile: round %d/%d done\n"):format(round, rounds))
    end
  end)
  fast.stop(srv)
  if not ok then error(err, 0) end
  print(("%s: us per call, median of %d rounds x %d calls (pinned: nginx and client on one CPU)"):format(LUA, rounds, calls))
  print(("%-9s %9s %9s %9s  %s"):format("layer", "us/call", "step", "vs raw", "what the step adds"))
  local prev
  for _, n in ipairs(names) do
    local m = common.median(us[n])
    local step = prev and m - prev or 0
    print(("%-9s %9.2f %+9.2f %9.2f  %s"):format(n, m, step, m / common.median(us.raw), DESCRIBE[n]))
    prev = m
  end
  local raw = common.median(us.raw)
  print(("calls/s as a share of raw libcurl: me %.2f"):format(raw / common.median(us.me)))
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
