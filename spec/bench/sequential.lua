-- Section 1: sequential calls per second against the fast endpoint
-- (spec/bench/fast_server.lua), one keep-alive connection each:
--   genesys.tokens client:me() on Lua 5.4 and on LuaJIT (spec/bench/me_loop.lua),
--   raw libcurl, one easy handle (spec/bench/raw_curl.c): the lower bound,
--   the Genesys Cloud JavaScript SDK, TokensApi.getTokensMe() (spec/bench/js_sdk.js).
-- The clients take turns (spec/bench/lockstep.lua): each is one process,
-- warmed up with WARMUP calls, then CYCLES times, in rotating order, each
-- makes as many calls as it did in about TURN seconds of its warm-up. A
-- client's calls/s is the median of its turns; its ratio to raw libcurl the
-- median of the ratios within each cycle, so that the machine's drift from
-- minute to minute cancels out.
--
-- Pinning (BENCH_PIN): "same" (default) puts the nginx worker and the
-- client on the machine's last CPU: on a small VM a ping-pong across two
-- vCPUs swings 3x from run to run with the wake-up latency of the idle
-- vCPU, while on one CPU each call costs client CPU + server CPU and the
-- spread stays within a few %. "split" pins them to different CPUs;
-- "none" leaves them to the scheduler.
local common = require "spec.bench.common"
local fast = require "spec.bench.fast_server"
local lockstep = require "spec.bench.lockstep"
local nginx = require "spec.support.nginx"

local M = {}

local q = common.q

local function env_number(name, default)
  local v = tonumber(os.getenv(name) or "")
  return v or default
end

--- Runs the section; adds rows to common.rows. ctx: { js_dir, raw_curl,
--- lua54, luajit }.
function M.run(ctx)
  local cycles = env_number("BENCH_SEQ_CYCLES", common.QUICK and 15 or 40)
  local turn = env_number("BENCH_SEQ_TURN", 0.2)
  local warmup = env_number("BENCH_SEQ_WARMUP", 2000)
  local pin = os.getenv("BENCH_PIN") or "same"
  assert(cycles >= 3 and cycles <= 1000 and turn >= 0.01 and turn <= 10 and warmup >= 100)

  local srv = fast.start()
  local dir = nginx.tempdir("benchturns")
  local run
  local result
  local ok, err = pcall(function()
    local me_url = srv.url .. "/api/v2/tokens/me"
    local lua_env = "env LUA_PATH='./lua/?.lua;./lua/?/init.lua;;' "
    local clients = {
      { key = "lua54", name = "genesys.tokens Lua 5.4",
        cmd = lua_env .. "LUA_CPATH='./build/5.4/?.so;;' lua5.4 spec/bench/me_loop.lua "
          .. q(srv.url) .. " serve " .. warmup },
      { key = "luajit", name = "genesys.tokens LuaJIT",
        cmd = lua_env .. "LUA_CPATH='./build/luajit/?.so;;' luajit spec/bench/me_loop.lua "
          .. q(srv.url) .. " serve " .. warmup },
      { key = "raw", name = "raw libcurl (C)",
        cmd = q(ctx.raw_curl) .. " " .. q(me_url) .. " serve " .. warmup },
    }
    if ctx.js_dir then
      clients[#clients + 1] = { key = "js", name = "JS SDK purecloud-platform-client-v2",
        cmd = "node spec/bench/js_sdk.js " .. q(ctx.js_dir) .. " " .. srv.port .. " serve " .. warmup }
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

    run = lockstep.start(clients, { dir = dir, prefix = prefix })
    local versions, rates, per_cycle, sizes = {}, {}, {}, {}
    for _, c in ipairs(run.clients) do
      versions[c.key] = c.version
      rates[c.key] = {}
      sizes[c.key] = math.max(100, math.floor(c.warm_rate * turn + 0.5))
      common.note("sequential: %-36s warm at %8.0f calls/s, %d calls a turn", c.name, c.warm_rate, sizes[c.key])
    end
    for cycle = 1, cycles do
      local this = {}
      for i = 0, #run.clients - 1 do
        local c = run.clients[(cycle - 1 + i) % #run.clients + 1]
        this[c.key] = sizes[c.key] / lockstep.turn(c, sizes[c.key])
        rates[c.key][#rates[c.key] + 1] = this[c.key]
      end
      per_cycle[cycle] = this
      if cycle % 10 == 0 or cycle == cycles then
        common.note("sequential cycle %d/%d: raw %.0f, Lua 5.4 %.0f, LuaJIT %.0f calls/s", cycle, cycles,
          this.raw, this.lua54, this.luajit)
      end
    end
    lockstep.stop(run)
    result = { rates = rates, per_cycle = per_cycle, clients = clients, versions = versions, sizes = sizes,
      cycles = cycles, turn = turn, pin = pin, warmup = warmup }
  end)
  if run then lockstep.stop(run) end
  fast.stop(srv)
  nginx.remove_tempdir(dir)
  if not ok then error(err, 0) end

  local r, med = result.rates, {}
  for k, list in pairs(r) do med[k] = common.median(list) end
  -- The median over the cycles of key's rate / peer's rate in that cycle.
  local function ratio(key, peer)
    local list = {}
    for _, this in ipairs(result.per_cycle) do list[#list + 1] = this[key] / this[peer] end
    return common.median(list), common.min(list), common.max(list)
  end
  local function row(key, name, extra)
    local t = { section = "1 sequential", case = name, metric = "calls/s", unit = "", samples = r[key],
      note = ("%d turns of %d calls, pin=%s"):format(result.cycles, result.sizes[key], result.pin) }
    for k, v in pairs(extra or {}) do t[k] = v end
    return common.add(t)
  end
  local js_name = ctx.js_dir and ("JS SDK " .. (result.versions.js or "?")) or nil
  local function versus(key, name, peer, peer_name, target)
    local m, lo, hi = ratio(key, peer)
    row(key, name, { peer = peer_name, ratio = m, target = ">= " .. target, met = m >= target,
      note = ("median of %d cycles' ratios (%.2f to %.2f), pin=%s"):format(result.cycles, lo, hi, result.pin) })
  end
  for _, c in ipairs { { "lua54", "genesys.tokens Lua 5.4" }, { "luajit", "genesys.tokens LuaJIT" } } do
    versus(c[1], c[2], "raw", "raw libcurl", 0.9)
    if med.js then versus(c[1], c[2], "js", js_name, 7) end
  end
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
