-- Starts and stops the nginx that runs genesys.tokens inside OpenResty for
-- the specs (spec/support/openresty/), pointed at a running fake Genesys
-- Cloud. Needs the core built for LuaJIT: build/luajit/genesys/tokens/core.so.
--
--   local openresty = require "spec.support.openresty"
--   local app = openresty.start(fake_srv)   -- app.url, app.pid, app.dir, app.error_log
--   openresty.call { client = {...}, call = "me", args = {...} }
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
--- { client = options, call = "me", args = { ... } } -> { value, err } or { raised }.
function M.call(spec)
  local status, body = nginx.request(M.app.url .. "/call", "POST", cjson.encode(spec), 30)
  assert(status == 200, "app /call: " .. tostring(status) .. " " .. tostring(body))
  return as_sent(cjson.decode(body))
end

return M
