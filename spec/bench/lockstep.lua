-- Clients that take turns, so that each is measured in the same seconds of
-- the machine's life as its peers: on a shared VM the speed drifts by
-- 10-30% from one minute to the next, which separate runs of a few seconds
-- each turn into noise in every ratio.
--
-- Each client is one long-lived process in the "serve" mode of raw_curl.c,
-- me_loop.lua and js_sdk.js: it warms up, prints "READY rate=<calls/s>",
-- then for each line "N" on its stdin makes N calls and prints
-- "DONE <seconds>"; it exits when its stdin ends. Its stdin is a FIFO, its
-- stdout a pipe; `timeout` bounds its life, so no read here waits forever.
--
--   local lockstep = require "spec.bench.lockstep"
--   local run = lockstep.start(clients, { dir = d, prefix = "taskset -c 1 ", lifetime = 1200 })
--   local seconds = lockstep.turn(run.clients[1], 2000)
--   lockstep.stop(run)
local nginx = require "spec.support.nginx"

local M = {}

local q = nginx.q

-- The rest of what a client printed (after a failure), for the message.
local function rest_of(c)
  local text = c.out:read("a") or ""
  return #text > 2000 and text:sub(1, 2000) .. "..." or text
end

-- Reads the client's next line; raises with its output when it is not
-- the one expected (`pattern` captures a number).
local function expect(c, pattern, what)
  local line = c.out:read("l")
  local v = line and tonumber(line:match(pattern))
  if not v then
    error(("%s: expected %s, got %q:\n%s"):format(c.name, what, tostring(line), rest_of(c)), 0)
  end
  return v, line
end

--- Starts every client (a list of { key, name, cmd }) and waits for each
-- to be warm. `opts`: dir (for the FIFOs), prefix (before each command,
-- e.g. a taskset), lifetime (seconds, default 1200). Returns { clients }.
function M.start(clients, opts)
  local run = { clients = {} }
  local ok, err = pcall(function()
    for i, spec in ipairs(clients) do
      local fifo = ("%s/turns-%d"):format(opts.dir, i)
      assert(nginx.execute("mkfifo " .. q(fifo)), "mkfifo failed")
      local c = { key = spec.key, name = spec.name, fifo = fifo }
      -- The shell opens the FIFO before it runs the client, and that open
      -- waits for ours: both happen before the client makes a call.
      c.out = assert(io.popen(("exec %stimeout %d %s < %s 2>&1"):format(opts.prefix or "",
        opts.lifetime or 1200, spec.cmd, q(fifo)), "r"))
      c.input = assert(io.open(fifo, "w"))
      run.clients[#run.clients + 1] = c
      c.warm_rate, c.ready = expect(c, "^READY rate=([%d.]+)", "READY")
      c.version = c.ready:match("version=(%S+)")
    end
  end)
  if not ok then
    M.stop(run)
    error(err, 0)
  end
  return run
end

--- One turn: `calls` calls by client c; returns the seconds they took.
function M.turn(c, calls)
  c.input:write(("%d\n"):format(calls))
  c.input:flush()
  return expect(c, "^DONE ([%d.]+)", "DONE")
end

--- Ends every client (their stdin closes; each exits) and removes the FIFOs.
function M.stop(run)
  for _, c in ipairs(run.clients) do
    if c.input then c.input:close() end
    c.input = nil
  end
  for _, c in ipairs(run.clients) do
    if c.out then
      c.out:read("a")
      c.out:close()
    end
    c.out = nil
    os.remove(c.fifo)
  end
end

return M
