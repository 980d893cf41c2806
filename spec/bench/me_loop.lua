-- One sequential client of the benchmark: `client:me()` through
-- genesys.tokens, each call decoded into a Lua table. Runs on Lua 5.4 and
-- LuaJIT (run.lua sets LUA_PATH/LUA_CPATH to the matching build):
--
--   lua5.4 spec/bench/me_loop.lua BASE_URL CALLS [WARMUP]
--
-- Prints one line: "RESULT calls=<n> seconds=<s> rate=<calls per second>"
-- (the warm-up is not timed).
local tokens = require "genesys.tokens"
local core = require "genesys.tokens.core"

local base_url = assert(arg[1], "usage: me_loop.lua BASE_URL CALLS [WARMUP]")
local calls = assert(tonumber(arg[2]), "CALLS must be a number")
local warmup = tonumber(arg[3]) or 1000
assert(calls >= 1 and calls <= 10000000 and warmup >= 0 and warmup <= 10000000)

local client = tokens.new { base_url = base_url, access_token = "bench-access-token-0123456789abcdef" }

local function check(info, err, i)
  if not info then error(("call %d: %s"):format(i, tostring(err))) end
  if type(info.organization) ~= "table" then error(("call %d: no organization in the TokenInfo"):format(i)) end
end

for i = 1, warmup do
  local info, err = client:me()
  check(info, err, i)
end

local t0 = core.now()
for i = 1, calls do
  local info, err = client:me()
  check(info, err, i)
end
local elapsed = core.now() - t0
client:close()
print(("RESULT calls=%d seconds=%.6f rate=%.1f"):format(calls, elapsed, calls / elapsed))
