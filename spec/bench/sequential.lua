-- Section 1: sequential calls per second against the fast endpoint
-- (spec/bench/fast_server.lua), one keep-alive connection each:
--   genesys.tokens client:me() on Lua 5.4 and on LuaJIT (spec/bench/me_loop.lua),
--   raw libcurl, one easy handle (spec/bench/raw_curl.c): the lower bound,
--   the Genesys Cloud JavaScript SDK, TokensApi.getTokensMe() (spec/bench/js_sdk.js).
-- ROUNDS rounds, each client once a round in rotating order; each run is
-- a fresh process: WARMUP untimed calls, then CALLS timed ones. Medians of
-- the rounds' calls/s, and ratios of medians.
--
-- Pinning (BENCH_PIN): "same" (default) puts the nginx worker and the
-- client on the machine's last CPU: on a small VM a ping-pong across two
-- vCPUs swings 3x from run to run with the wake-up latency of the idle
-- vCPU, while on one CPU each call costs client CPU + server CPU and the
-- spread stays within a few %. "split" pins them to different CPUs;
-- "none" leaves them to the scheduler.
local common = require "spec.bench.common"
local fast = require "spec.bench.fast_server"

local M = {}

local q = common.q

local function env_number(name, default)
  local v = tonumber(os.getenv(name) or "")
  return v or default
end

--- Runs the section; adds rows to common.rows. ctx: { js_dir, raw_curl,
--- lua54, luajit }.
function M.run(ctx)
  local rounds = env_number("BENCH_SEQ_ROUNDS", 5)
  local calls = env_number("BENCH_SEQ_CALLS", common.QUICK and 10000 or 20000)
  local warmup = env_number("BENCH_SEQ_WARMUP", 2000)
  local pin = os.getenv("BENCH_PIN") or "same"
  assert(rounds >= 1 and rounds <= 50 and calls >= 100 and calls <= 1000000)

  local srv = fast.start()
  local result
  local ok, err = pcall(function()
    local me_url = srv.url .. "/api/v2/tokens/me"
    local lua_env = "LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' "
    local clients = {
      { key = "lua54", name = "genesys.tokens Lua 5.4",
        cmd = "env " .. lua_env .. "LUA_CPATH='./build/5.4/?.so;;' lua5.4 spec/bench/me_loop.lua "
          .. q(srv.url) .. " " .. calls .. " " .. warmup },
      { key = "luajit", name = "genesys.tokens LuaJIT",
        cmd = "env " .. lua_env .. "LUA_CPATH='./build/luajit/?.so;;' luajit spec/bench/me_loop.lua "
          .. q(srv.url) .. " " .. calls .. " " .. warmup },
      { key = "raw", name = "raw libcurl (C)",
        cmd = q(ctx.raw_curl) .. " " .. q(me_url) .. " " .. calls .. " " .. warmup },
    }
    if ctx.js_dir then
      clients[#clients + 1] = { key = "js", name = "JS SDK purecloud-platform-client-v2",
        cmd = "node spec/bench/js_sdk.js " .. q(ctx.js_dir) .. " " .. srv.port .. " " .. calls .. " " .. warmup }
    end

    -- Pinning: the nginx worker(s) of the endpoint, and a taskset prefix
    -- for each client.
    local nproc = tonumber((common.capture("nproc"):match("%d+"))) or 1
    local prefix = ""
    if pin ~= "none" and nproc > 1 then
      local server_cpu = nproc - 1
      local client_cpu = pin == "split" and nproc - 2 or server_cpu
      for wpid in common.capture("pgrep -P " .. srv.pid):gmatch("%d+") do
        common.execute("taskset -pc " .. server_cpu .. " " .. wpid .. " >/dev/null")
      end
      prefix = "taskset -c " .. client_cpu .. " "
    else
      pin = "none"
    end

    local rates, versions = {}, {}
    for _, c in ipairs(clients) do rates[c.key] = {} end
    for round = 1, rounds do
      for i = 0, #clients - 1 do
        local c = clients[(round - 1 + i) % #clients + 1]
        local out, good = common.run(prefix .. c.cmd .. " 2>&1")
        local res = common.parse_result(out)
        if not good or not res then
          error(("%s failed in round %d:\n%s"):format(c.name, round, out))
        end
        rates[c.key][#rates[c.key] + 1] = res.rate
        if res.version then versions[c.key] = res.version end
        common.note("sequential round %d/%d: %-36s %8.0f calls/s", round, rounds, c.name, res.rate)
      end
    end
    result = { rates = rates, clients = clients, versions = versions, calls = calls,
      rounds = rounds, pin = pin, warmup = warmup }
  end)
  fast.stop(srv)
  if not ok then error(err, 0) end

  local r, med = result.rates, {}
  for k, list in pairs(r) do med[k] = common.median(list) end
  local function row(key, name, extra)
    local t = { section = "1 sequential", case = name, metric = "calls/s", unit = "",
      samples = r[key], note = ("%d rounds x %d calls, pin=%s"):format(result.rounds, result.calls, result.pin) }
    for k, v in pairs(extra or {}) do t[k] = v end
    return common.add(t)
  end
  local js_name = ctx.js_dir and ("JS SDK " .. (result.versions.js or "?")) or nil
  local function versus(key, name)
    row(key, name, { peer = "raw libcurl", ratio = med[key] / med.raw, target = ">= 0.9",
      met = med[key] / med.raw >= 0.9 })
    if med.js then
      row(key, name, { peer = js_name, ratio = med[key] / med.js, target = ">= 7",
        met = med[key] / med.js >= 7 })
    end
  end
  versus("lua54", "genesys.tokens Lua 5.4")
  versus("luajit", "genesys.tokens LuaJIT")
  row("raw", "raw libcurl (C)")
  if med.js then row("js", js_name) end
  -- Microseconds a call, for the profile.
  for _, c in ipairs(result.clients) do
    if med[c.key] then
      common.add { section = "1 sequential", case = (c.key == "js" and js_name or c.name), metric = "time/call",
        unit = "us", median = 1e6 / med[c.key], n = #r[c.key],
        peer = c.key ~= "raw" and "raw libcurl" or nil,
        ratio = c.key ~= "raw" and med.raw / med[c.key] or nil,
        note = c.key ~= "raw" and ("%+.1f us over raw libcurl"):format(1e6 / med[c.key] - 1e6 / med.raw) or nil }
    end
  end
  return result
end

return M
