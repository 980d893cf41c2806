-- Section 4: memory. VmRSS of a Lua 5.4 process holding 1,000 clients
-- (spec/bench/clients_rss.lua: created, then after one me() each against
-- the fast endpoint), and the growth over 200,000 me() calls
-- (spec/bench/soak.lua, as `make soak` runs it; 50,000 with BENCH_QUICK=1).
local common = require "spec.bench.common"
local fast = require "spec.bench.fast_server"

local M = {}

local CLIENTS = 1000

function M.run()
  local srv = fast.start()
  local out, good
  local ok, err = pcall(function()
    -- Each used client keeps a connection open: room for 1,000 of them.
    out, good = common.run("ulimit -n 4096 2>/dev/null; lua5.4 spec/bench/clients_rss.lua " .. CLIENTS
      .. " " .. common.q(srv.url) .. " 2>&1")
  end)
  fast.stop(srv)
  if not ok then error(err, 0) end
  local r = common.parse_result(out)
  if not good or not r then error("clients_rss.lua failed:\n" .. out) end
  common.add { section = "4 memory", case = "Lua 5.4 process, module loaded", metric = "VmRSS", unit = "KiB",
    median = r.base, n = 1 }
  common.add { section = "4 memory", case = ("%d clients created (tokens.new)"):format(CLIENTS),
    metric = "VmRSS", unit = "KiB", median = r.created, n = 1, peer = "module loaded",
    ratio = r.created / r.base,
    note = ("%.1f KiB a client"):format((r.created - r.base) / CLIENTS) }
  common.add { section = "4 memory", case = ("%d clients after one me() each"):format(CLIENTS),
    metric = "VmRSS", unit = "KiB", median = r.used, n = 1, peer = "module loaded",
    ratio = r.used / r.base,
    note = ("%.1f KiB a client with its open connection"):format((r.used - r.base) / CLIENTS) }

  local calls = tonumber(os.getenv("SOAK_CALLS") or "") or (common.QUICK and 50000 or 200000)
  common.note("memory: soak, %d me() calls (spec/bench/soak.lua)", calls)
  local soak, soak_ok = common.run("SOAK_CALLS=" .. calls .. " lua5.4 spec/bench/soak.lua 2>&1")
  local rate = tonumber(soak:match("([%d%.]+) calls/s"))
  local start_kib, end_kib, growth = soak:match("(%d+) KiB after the warm%-up, (%d+) KiB at the end, growth (%-?%d+) KiB")
  if not rate or not growth then error("spec/bench/soak.lua failed:\n" .. soak) end
  common.add { section = "4 memory", case = ("soak: %d me() calls, one client"):format(calls),
    metric = "VmRSS growth", unit = "KiB", median = tonumber(growth), n = 1,
    peer = ("after warm-up %s KiB"):format(start_kib), ratio = tonumber(end_kib) / tonumber(start_kib),
    note = ("%s KiB at the end; %.0f calls/s against the Lua fake%s"):format(end_kib, rate,
      soak_ok and "" or "; soak.lua's own 2 MiB check failed") }
end

return M
