-- Section 2: revoke_many against the fake Genesys Cloud, by the method of
-- spec/bench/bulk.lua (2,000 ids, 50 ms latency, rate-limit headers that
-- allow far more than the run sends): elapsed time at concurrency 1, 4,
-- 16, 64 against the ideal N x latency / concurrency. Medians of
-- BENCH_ROUNDS rounds (3); concurrency 1 runs once (100 s), and not at all
-- with BENCH_QUICK=1. spec/bench/bulk.lua itself (make bench-bulk) also
-- measures the rate-limited case; this folds the sweep into the table/CSV.
local common = require "spec.bench.common"

local M = {}

local N, LATENCY = 2000, 0.05

function M.run()
  package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
  package.cpath = "./build/5.4/?.so;" .. package.cpath
  local fake = require "spec.support.fake"
  local tokens = require "genesys.tokens"
  local core = require "genesys.tokens.core"

  local rounds = tonumber(os.getenv("BENCH_ROUNDS") or "") or 3
  local levels = common.QUICK and { 4, 16, 64 } or { 1, 4, 16, 64 }
  local srv = fake.start()
  local ok, err = pcall(function()
    if common.QUICK then
      common.add { section = "2 bulk", case = ("revoke_many %d ids c=1"):format(N), metric = "elapsed",
        unit = "s", note = "skipped (BENCH_QUICK)" }
    end
    for _, concurrency in ipairs(levels) do
      local times = {}
      for round = 1, (concurrency == 1 and 1 or rounds) do
        fake.reset()
        fake.configure { latency = LATENCY, log = false,
          rate_limit = { count = 1000000, window = 60, enforced = false } }
        local ids = fake.add_users { count = N, prefix = "bench-" }
        local c = tokens.new { base_url = srv.http_url, access_token = "tok-admin", timeout = 30 }
        local t0 = core.now()
        local results = assert(c:revoke_many(ids, { concurrency = concurrency }))
        times[#times + 1] = core.now() - t0
        c:close()
        if results.succeeded ~= N then
          error(("revoke_many at concurrency %d: %d of %d failed"):format(concurrency, results.failed, N))
        end
        common.note("bulk c=%-3d round %d: %.2f s", concurrency, round, times[#times])
      end
      local ideal = N * LATENCY / concurrency
      local elapsed = common.median(times)
      common.add {
        section = "2 bulk", case = ("revoke_many %d ids c=%d"):format(N, concurrency),
        metric = "elapsed", unit = "s", samples = times,
        peer = ("ideal %.2f s"):format(ideal), ratio = elapsed / ideal,
        target = concurrency == 16 and "<= 1.2" or nil,
        met = (concurrency == 16 or nil) and elapsed / ideal <= 1.2,
        note = ("%.0f ids/s, 50 ms latency"):format(N / elapsed),
      }
    end
  end)
  fake.stop()
  if not ok then error(err, 0) end
end

return M
