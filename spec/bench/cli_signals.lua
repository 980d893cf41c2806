-- How long genesys-tokens takes to end after SIGINT or SIGTERM, on pipes
-- and on a pseudo-terminal (where SIGINT is a ^C typed at it), while it
-- waits out a 30 s Retry-After (me) and while a request stalls for 30 s
-- (verify): 5 runs each, the median and the worst, from the signal to the
-- exit as the shell sees them. After `make`:
--   LUA_PATH='./lua/?.lua;./lua/?/init.lua;./?.lua;;' LUA_CPATH='./build/5.4/?.so;;' lua5.4 spec/bench/cli_signals.lua
local cli = require "spec.support.cli"
local fake = require "spec.support.fake"
local nginx = require "spec.support.nginx"
local srv = fake.start()
local dir = nginx.tempdir("sigfig")
local r = cli.new(srv, dir)
local function median(t) table.sort(t) return t[math.ceil(#t / 2)] end
local unpack = table.unpack or unpack -- luacheck: ignore (5.1)
for _, wire in ipairs { "pipes", "pty" } do
  for _, case in ipairs { { "Retry-After", "me", { kind = "429", retry_after = 30 } },
    { "stalled request", "verify", { kind = "delay", seconds = 30 } } } do
    for _, sig in ipairs { "INT", "TERM" } do
      local ms, codes = {}, {}
      for _ = 1, 5 do
        fake.reset()
        fake.fault(case[3])
        local _, _, code, m = r.signal(case[2], sig, 0.5, wire)
        ms[#ms + 1] = m; codes[code] = true
      end
      local c = {}
      for k in pairs(codes) do c[#c + 1] = tostring(k) end
      print(("%s, %s, SIG%s: median %.0f ms (max %.0f), exit %s"):format(wire, case[1], sig, median(ms),
        math.max(unpack(ms)), table.concat(c, ",")))
    end
  end
end
fake.stop()
nginx.remove_tempdir(dir)
