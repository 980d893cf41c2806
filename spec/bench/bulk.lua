-- Benchmarks of revoke_many against the fake Genesys Cloud (loopback):
--   1. 2,000 revocations, 50 ms latency, no rate limit, concurrency 1, 4,
--      16, 64: elapsed time against the ideal N x latency / concurrency;
--   2. a rate limit of 50 requests per 10 s: the sustained rate against
--      the allowed rate, and how many ids failed.
-- Medians over ROUNDS rounds. Run: make bench-bulk (or lua5.4 spec/bench/bulk.lua)
package.path = "./lua/?.lua;./?.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"
local core = require "genesys.tokens.core"

local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS")) or 3
local N, LATENCY = 2000, 0.05
local LIMIT, WINDOW, LIMITED_N = 50, 10, 200

local function median(list)
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  table.sort(s)
  local m = #s
  return m % 2 == 1 and s[(m + 1) / 2] or (s[m / 2] + s[m / 2 + 1]) / 2
end

local srv = fake.start()
local ok, err = pcall(function()
  print(("revoke_many: %d ids, %.0f ms latency, no rate limit (median of %d rounds)"):format(N, LATENCY * 1000, ROUNDS))
  print(("%-12s %10s %10s %8s %8s"):format("concurrency", "elapsed s", "ideal s", "ratio", "ids/s"))
  for _, concurrency in ipairs { 1, 4, 16, 64 } do
    local times = {}
    local rounds = concurrency == 1 and 1 or ROUNDS -- 100 s a round at 1
    for _ = 1, rounds do
      fake.reset()
      -- "No limit": the headers allow far more than the run sends (the
      -- fake's default, 300 a minute, is the real platform's, and the
      -- client would pace itself to it).
      fake.configure { latency = LATENCY, log = false,
        rate_limit = { count = 1000000, window = 60, enforced = false } }
      local ids = fake.add_users { count = N, prefix = "bench-" }
      local c = tokens.new { base_url = srv.http_url, access_token = "tok-admin", timeout = 30 }
      local t0 = core.now()
      local results = assert(c:revoke_many(ids, { concurrency = concurrency }))
      times[#times + 1] = core.now() - t0
      assert(results.succeeded == N, "failed: " .. results.failed)
      c:close()
    end
    local elapsed, ideal = median(times), N * LATENCY / concurrency
    print(("%-12d %10.2f %10.2f %8.2f %8.0f"):format(concurrency, elapsed, ideal, elapsed / ideal, N / elapsed))
  end

  print()
  print(("revoke_many: %d ids, rate limit %d per %d s, concurrency 16"):format(LIMITED_N, LIMIT, WINDOW))
  fake.reset()
  fake.configure { rate_limit = { count = LIMIT, window = WINDOW } }
  local ids = fake.add_users { count = LIMITED_N, prefix = "lim-" }
  local c = tokens.new { base_url = srv.http_url, access_token = "tok-admin", timeout = 30 }
  local t0 = core.now()
  local results = assert(c:revoke_many(ids, { concurrency = 16 }))
  local elapsed = core.now() - t0
  -- The fake's windows start at the first request after the last one
  -- ended; the sustained rate is what the full windows let through over
  -- the time from the first window's start to the last window's start.
  local log = fake.log()
  table.sort(log, function(a, b) return a.time < b.time end)
  local starts, accepted_in, limited = {}, {}, 0
  for _, e in ipairs(log) do
    if #starts == 0 or e.time >= starts[#starts] + WINDOW then starts[#starts + 1] = e.time end
    if e.status == 204 then accepted_in[#starts] = (accepted_in[#starts] or 0) + 1 end
    if e.status == 429 then limited = limited + 1 end
  end
  local full = 0
  for i = 1, #starts - 1 do full = full + (accepted_in[i] or 0) end
  local rate = full / (starts[#starts] - starts[1])
  local allowed = LIMIT / WINDOW
  print(("%-28s %8.2f s"):format("elapsed", elapsed))
  print(("%-28s %8d"):format("windows", #starts))
  print(("%-28s %8.2f/s of %.2f/s allowed = %.0f%%"):format("sustained rate", rate, allowed, 100 * rate / allowed))
  print(("%-28s %8d"):format("429s met", limited))
  print(("%-28s %8d of %d"):format("ids failed", results.failed, LIMITED_N))
end)
fake.stop()
if not ok then error(err, 0) end
