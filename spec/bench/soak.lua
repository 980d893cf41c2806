-- Soak: SOAK_CALLS (default 200,000) tokens.me() calls in one process
-- against the fake Genesys Cloud; resident memory after a warm-up and at
-- the end (growth must stay under 2 MiB), and calls per second.
-- Run: make soak
package.path = "./lua/?.lua;./?.lua;" .. package.path
package.cpath = "./build/5.4/?.so;" .. package.cpath

local fake = require "spec.support.fake"
local tokens = require "genesys.tokens"
local core = require "genesys.tokens.core"

local CALLS = tonumber(os.getenv("SOAK_CALLS")) or 200000
local WARMUP = math.min(10000, math.floor(CALLS / 10))
local LIMIT_KIB = 2048

local function rss_kib()
  collectgarbage("collect")
  collectgarbage("collect")
  local status = assert(io.open("/proc/self/status")):read("*a")
  return tonumber(status:match("VmRSS:%s*(%d+) kB"))
end

local srv = fake.start()
local ok, err = pcall(function()
  -- No request log (it would grow the fake, not us), and headers that
  -- allow far more than a minute's calls, so nothing paces the client.
  fake.configure { log = false, rate_limit = { count = 100000000, window = 60, enforced = false } }
  local c = tokens.new { base_url = srv.http_url, access_token = "tok-admin", timeout = 10 }
  for _ = 1, WARMUP do assert(c:me()) end
  local start_rss = rss_kib()
  local t0 = core.now()
  for i = 1, CALLS - WARMUP do
    local info, e = c:me()
    if not info then error(("call %d: %s"):format(i, tostring(e))) end
  end
  local elapsed = core.now() - t0
  local end_rss = rss_kib()
  local growth = end_rss - start_rss
  print(("soak: %d me() calls (%d warm-up), %.1f s, %.0f calls/s"):format(CALLS, WARMUP, elapsed,
    (CALLS - WARMUP) / elapsed))
  print(("resident memory: %d KiB after the warm-up, %d KiB at the end, growth %d KiB (limit %d KiB)")
    :format(start_rss, end_rss, growth, LIMIT_KIB))
  assert(growth < LIMIT_KIB, "resident memory grew by more than 2 MiB")
  c:close()
end)
fake.stop()
if not ok then error(err, 0) end
