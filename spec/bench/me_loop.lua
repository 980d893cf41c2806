-- One sequential client of the benchmark: `client:me()` through
-- genesys.tokens, each call decoded into a Lua table. Runs on Lua 5.4 and
-- LuaJIT (run.lua sets LUA_PATH/LUA_CPATH to the matching build):
--
--   lua5.4 spec/bench/me_loop.lua BASE_URL CALLS [WARMUP]
--   lua5.4 spec/bench/me_loop.lua BASE_URL serve [WARMUP]
--
-- Prints one line: "RESULT calls=<n> seconds=<s> rate=<calls per second>"
-- (the warm-up is not timed). With `serve`, takes turns with its peers as
-- raw_curl.c does (spec/bench/lockstep.lua): "READY rate=<r>" after the
-- warm-up, then "DONE <seconds>" for each line "N" on stdin.
local tokens = require "genesys.tokens"
local core = require "genesys.tokens.core"

local base_url = assert(arg[1], "usage: me_loop.lua BASE_URL CALLS|serve [WARMUP]")
local serve = arg[2] == "serve"
local calls = serve and 1 or assert(tonumber(arg[2]), "CALLS must be a number")
local warmup = tonumber(arg[3]) or 1000
assert(calls >= 1 and calls <= 10000000 and warmup >= 0 and warmup <= 10000000)

local client = tokens.new { base_url = base_url, access_token = "bench-access-token-0123456789abcdef" }

local function check(info, err, i)
  if not info then error(("call %d: %s"):format(i, tostring(err))) end
  if type(info.organization) ~= "table" then error(("call %d: no organization in the TokenInfo"):format(i)) end
end

local function loop(n)
  local t0 = core.now()
  for i = 1, n do
    local info, err = client:me()
    check(info, err, i)
  end
  return core.now() - t0
end

local warm = loop(warmup)
if serve then
  io.stdout:setvbuf("line")
  print(("READY rate=%.1f"):format(warmup > 0 and warm > 0 and warmup / warm or 0))
  for line in io.stdin:lines() do
    local n = assert(tonumber(line), "a turn is a number of calls")
    assert(n >= 1 and n <= 10000000, "a turn is 1..10000000 calls")
    print(("DONE %.6f"):format(loop(n)))
  end
else
  local elapsed = loop(calls)
  print(("RESULT calls=%d seconds=%.6f rate=%.1f"):format(calls, elapsed, calls / elapsed))
end
client:close()
