-- A call's outcome as plain data, the same from both transports: inside
-- nginx (app.lua sends it as JSON) and in the spec process.
-- { value = ..., err = { kind, status, code, message, correlation_id,
--   retry_after, text } } or { raised = "message" }.
--
-- With `extra` (a table; all optional) it also carries:
--   extra.log = true: `log`, every entry the client's logger got, as
--     { level = ..., entry = {...} }, in order (the client options' own
--     log_level/log_bodies apply; the logger is this module's);
--   extra.last_response = true: `last_response`, c:last_response() after
--     the last call (a logger changes the path a call takes: this does not);
--   `elapsed`, the seconds the calls took (always, when extra is given);
--   extra.bound = seconds: a watchdog for specs against hostile servers.
--     A sleep the library asks for (core.sleep, and ngx.sleep inside nginx)
--     that would end past the bound raises "hostile watchdog: ..." instead,
--     so a call that would wait minutes fails in seconds (outcome.raised).
-- A revoke_many value's per-id errors become plain tables like `err`.
local outcome = {}

local unpack = table.unpack or unpack -- luacheck: ignore (5.1 global)
local ngx = ngx -- luacheck: ignore (a global inside nginx only)

local WATCHDOG = "hostile watchdog: "

local function plain_err(err)
  if type(err) ~= "table" then return err end
  return { kind = err.kind, status = err.status, code = err.code, message = err.message,
    correlation_id = err.correlation_id, retry_after = err.retry_after, text = tostring(err) }
end

local function clock()
  if ngx then
    ngx.update_time()
    return ngx.now()
  end
  local ok, socket = pcall(require, "socket")
  if ok then return socket.gettime() end
  return os.time()
end

-- A plain copy of a log entry (tables copied, the rest as it is).
local function copy(v, depth)
  if type(v) ~= "table" or depth > 8 then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x, depth + 1) end
  return t
end

-- Replaces t[name] (a sleep function) by one that refuses to pass `deadline`;
-- returns the function that puts it back.
local function guard(t, name, deadline, bound)
  local original = t and t[name]
  if type(original) ~= "function" then return function() end end
  t[name] = function(seconds, ...)
    if type(seconds) == "number" and clock() + seconds > deadline then
      error(("%ssleep(%.3f) would pass the %g s bound"):format(WATCHDOG, seconds, bound), 2)
    end
    return original(seconds, ...)
  end
  return function() t[name] = original end
end

--- Runs `call` (a method name) with `args` on a new client built from
--- `client_opts`, `times` times on the same client; the last outcome.
function outcome.run(tokens, client_opts, call, args, times, extra)
  local log, last
  local started = extra and clock()
  local restore = {}
  if extra and extra.bound then
    local deadline = started + extra.bound
    local ok_core, core = pcall(require, "genesys.tokens.core")
    restore[#restore + 1] = guard(ok_core and core or nil, "sleep", deadline, extra.bound)
    if ngx then restore[#restore + 1] = guard(ngx, "sleep", deadline, extra.bound) end
  end
  if extra and extra.log then
    log = {}
    local opts = {}
    for k, v in pairs(client_opts or {}) do opts[k] = v end
    opts.logger = function(level, entry) log[#log + 1] = { level = level, entry = copy(entry, 0) } end
    client_opts = opts
  end
  local ok, value, err = pcall(function()
    local c = tokens.new(client_opts)
    local v, e
    for _ = 1, times or 1 do v, e = c[call](c, unpack(args or {})) end
    if extra and extra.last_response then
      local fine, lr = pcall(c.last_response, c)
      if fine then last = lr else last = { raised = tostring(lr) } end
    end
    c:close()
    return v, e
  end)
  for i = #restore, 1, -1 do restore[i]() end
  local out = { log = log, last_response = last, elapsed = extra and clock() - started }
  if not ok then
    out.raised = tostring(value)
    return out
  end
  out.value = value
  if type(err) == "table" then out.err = plain_err(err) end
  if call == "revoke_many" and type(value) == "table" then
    local list = {}
    for k, r in pairs(value) do
      if type(r) == "table" and r.err then
        local copied = copy(r, 0)
        copied.err = plain_err(r.err)
        list[k] = copied
      else
        list[k] = r
      end
    end
    out.value = list
  end
  return out
end

return outcome
