-- Starts and stops the nginx that runs genesys.tokens inside OpenResty for
-- the specs (spec/support/openresty/), pointed at a running fake Genesys
-- Cloud. Needs the core built for LuaJIT: build/luajit/genesys/tokens/core.so.
--
--   local openresty = require "spec.support.openresty"
--   local app = openresty.start(fake_srv)   -- app.url, app.pid, app.dir, app.error_log
--   openresty.call { client = {...}, call = "me", args = {...} }
--   local wait = openresty.call_async { ... }  -- ...; local o = wait()
--   openresty.stop()
local cjson = require "cjson"
local nginx = require "spec.support.nginx"

local M = {}

local HERE = nginx.dir_of_caller()
local REPO = HERE:gsub("/spec/support$", "")

local function render(template, vars)
  return (template:gsub("@([%u_]+)@", function(name)
    return tostring(assert(vars[name], "no value for @" .. name .. "@"))
  end))
end

--- Starts the app nginx against `fake` (what fake.start returned).
function M.start(fake)
  if M.app then M.stop() end
  local core = REPO .. "/build/luajit/genesys/tokens/core.so"
  assert(nginx.read_file(core), "build the LuaJIT core first: make LUA_VERSION=luajit (" .. core .. ")")
  local template = assert(nginx.read_file(HERE .. "/openresty/nginx.conf.in"))
  local dir = nginx.tempdir("openresty")
  local ok, pid, ports = pcall(nginx.start, {
    dir = dir, nports = 1,
    render = function(p)
      return render(template, { MODULES_DIR = nginx.MODULES_DIR, USER_LINE = nginx.user_line(), PREFIX = dir,
        REPO = REPO, CA_FILE = fake.ca_file, FAKE_URL = fake.http_url, PORT = p[1] })
    end,
    ready_url = function(p) return "http://127.0.0.1:" .. p[1] .. "/ping" end,
    ready = function(status) return status == 200 end,
  })
  if not ok then
    nginx.remove_tempdir(dir)
    error(pid, 2)
  end
  local app = { url = "http://127.0.0.1:" .. ports[1], pid = pid, dir = dir, error_log = dir .. "/error.log" }
  app._guard = nginx.guard(function() if M.app == app then M.stop() end end)
  M.app = app
  return app
end

--- Stops it by pid and removes its temp dir; safe to call twice.
function M.stop()
  local app = M.app
  if not app then return end
  M.app = nil
  nginx.stop(app.pid)
  nginx.remove_tempdir(app.dir)
end

--- GET a path of the app: status, body, headers.
function M.get(path, headers)
  return nginx.request(M.app.url .. path, "GET", nil, 30, headers)
end

-- What JSON did to an outcome, undone: a list with named fields too (a
-- revoke_many result) became an object with "1", "2"... keys, and nil
-- values cjson.null.
local function as_sent(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do
    if x ~= cjson.null then out[type(k) == "string" and k:match("^%d+$") and tonumber(k) or k] = as_sent(x) end
  end
  return out
end

--- Runs a call inside nginx (a content phase, so over cosockets):
--- { client = options, call = "me", args = { ... }, times = n, extra = {...} }
--- -> { value, err } or { raised } (extra: see openresty/outcome.lua).
function M.call(spec)
  local status, body = nginx.request(M.app.url .. "/call", "POST", cjson.encode(spec), 30)
  assert(status == 200, "app /call: " .. tostring(status) .. " " .. tostring(body))
  return as_sent(cjson.decode(body))
end

--- Starts the same call without waiting for it: returns a function that
--- waits (at most `timeout` seconds, default 30) and returns what M.call
--- would have, so a spec can run something else meanwhile.
function M.call_async(spec, timeout)
  local socket = require "socket"
  local body = cjson.encode(spec)
  local sock = assert(socket.tcp())
  sock:settimeout(timeout or 30)
  local host, port = M.app.url:match("^http://([^:/]+):(%d+)")
  assert(sock:connect(host, tonumber(port)))
  assert(sock:send("POST /call HTTP/1.1\r\nHost: " .. host .. "\r\nContent-Type: application/json\r\n"
    .. "Content-Length: " .. #body .. "\r\nConnection: close\r\n\r\n" .. body))
  return function()
    local text, err, partial = sock:receive("*a")
    sock:close()
    text = text or partial or ""
    local status = tonumber(text:match("^HTTP/1%.%d (%d%d%d)"))
    local head_end = text:find("\r\n\r\n", 1, true)
    assert(status == 200 and head_end, "app /call: " .. tostring(status) .. " " .. tostring(err) .. " " .. text:sub(1, 200))
    local rest = text:sub(head_end + 4)
    if text:sub(1, head_end):lower():find("transfer%-encoding: *chunked") then
      local parts, i = {}, 1
      while true do
        local size_line_end = rest:find("\r\n", i, true)
        local size = size_line_end and tonumber(rest:sub(i, size_line_end - 1):match("^%x+"), 16)
        if not size or size == 0 then break end
        parts[#parts + 1] = rest:sub(size_line_end + 2, size_line_end + 1 + size)
        i = size_line_end + 2 + size + 2
      end
      rest = table.concat(parts)
    end
    return as_sent(cjson.decode(rest))
  end
end

return M
