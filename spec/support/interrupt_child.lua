-- Run by spec/interrupt_spec.lua in a standalone interpreter, which the
-- spec then sends SIGINT: a call that waits or transfers, against the fake
-- (its faults queued by the spec).
--   LUA interrupt_child.lua MODE BASE_URL [USER_ID...]
-- MODE: call (client:me(), with fast-failing backoff settings when asked
-- through RETRY_BASE_DELAY), bulk (revoke_many of the ids, concurrency 2).
-- Prints "ready" before the call, and for bulk one line per finished id:
-- "done ID OK KIND". BUSY_LOGGER=s: a logger that computes s seconds for
-- each entry; BUSY_PROGRESS=s: on_progress does the same.
local mode, base_url = arg[1], arg[2]
local unpack = table.unpack or unpack -- luacheck: ignore (5.1's global)
local ids = { select(3, unpack(arg)) }
local tokens = require "genesys.tokens"

local retry = { budget = 60, max_delay = 30 }
if os.getenv("RETRY_BASE_DELAY") then retry.base_delay = tonumber(os.getenv("RETRY_BASE_DELAY")) end
local function busy(seconds)
  local t = os.clock()
  while os.clock() - t < seconds do end
end
local busy_logger, busy_progress = tonumber(os.getenv("BUSY_LOGGER") or ""), tonumber(os.getenv("BUSY_PROGRESS") or "")
local c = tokens.new { base_url = base_url, access_token = "tok-admin", timeout = 60, retry = retry,
  log_level = busy_logger and "debug" or nil, logger = busy_logger and function() busy(busy_logger) end or nil }

io.stdout:write("ready\n")
io.stdout:flush()
if mode == "call" then
  local info, err = c:me()
  io.stdout:write("returned ", tostring(info), " ", tostring(err), "\n")
elseif mode == "bulk" then
  c:revoke_many(ids, { concurrency = 2, on_progress = function(_, _, id, ok, err)
    io.stdout:write("done ", id, " ", tostring(ok), " ", err and err.kind or "-", "\n")
    io.stdout:flush()
    if busy_progress and ok then busy(busy_progress) end
  end })
  io.stdout:write("returned\n")
end
