-- Control module for the fake Genesys Cloud API (nginx + lua-nginx-module).
-- Works on Lua 5.1-5.4 with luasocket and lua-cjson:
--
--   local fake = require "spec.support.fake"
--   local srv = fake.start()  -- http_url, https_url, other_url, proxy_url,
--                             -- port, tls_port, other_port, proxy_port,
--                             -- ca_file, pid, dir, error_log
--   fake.fault{ kind = "429", retry_after = 2, path = "/api/v2/tokens/me" }
--   fake.log(), fake.state(), fake.add_token{ token = "tok-x", user_id = "..." }
--   fake.add_oauth_client{ client_id = "id", client_secret = "s", expires_in = 5 }
--   fake.revoke_token(token), fake.issued_tokens([client_id])
--   fake.reset(), fake.ping(), fake.stop()   -- fake.seed: seed.lua's table
--
-- The login host is the same listeners (POST /oauth/token); a gateway is
-- http_url .. "/gw/api" (API) and http_url .. "/gw/login" (login); the
-- proxy at proxy_url wants Basic seed.proxy.user:seed.proxy.password.
-- Faults and endpoints are described at the top of fake/api.lua.
--
-- Only 127.0.0.1 is ever used. Every wait below is bounded.
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local M = {}

local NGINX = "/usr/sbin/nginx"
local MODULES_DIR = "/usr/lib/nginx/modules"
local START_ATTEMPTS = 5   -- fresh ports each time, in case one got taken
local READY_POLLS = 100    -- x POLL_SLEEP: how long nginx may take to answer
local POLL_SLEEP = 0.05
local TERM_POLLS = 100     -- x POLL_SLEEP: grace time after SIGTERM
local CONTROL_TIMEOUT = 10 -- seconds per control request

---------------------------------------------------------------- helpers

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- os.execute's result differs between 5.1 (a wait status) and 5.2+;
-- returns ok, exit code. Exported for specs as fake.execute.
local function run(cmd)
  local a, _, c = os.execute(cmd)
  if type(a) == "number" then return a == 0, math.floor(a / 256) end
  return a == true, c
end
M.execute = run

local function capture(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a")
  p:close()
  return out
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write_file(path, s)
  local f = assert(io.open(path, "wb"))
  assert(f:write(s))
  f:close()
end

-- Absolute directory of this file, so the fake works from any cwd that can
-- require it.
local function this_dir()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
  if dir:sub(1, 1) ~= "/" then
    dir = capture("pwd"):gsub("%s+$", "") .. "/" .. dir
  end
  dir = dir:gsub("/%./", "/"):gsub("/%.$", "")
  return dir
end

local FAKE_DIR = this_dir() .. "/fake"

M.seed = dofile(FAKE_DIR .. "/seed.lua")

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- True while the process exists and is not a zombie (an exited nginx stays
-- a zombie until init reaps it).
local function alive(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  if stat then return stat:match("^%d+ %b() (%a)") ~= "Z" end
  if read_file("/proc/self/stat") then return false end -- Linux: it is gone
  return run("kill -0 " .. pid .. " 2>/dev/null")
end

local function wait_gone(pid, polls)
  for _ = 1, polls do
    if not alive(pid) then return true end
    socket.sleep(POLL_SLEEP)
  end
  return not alive(pid)
end

-- Stops nginx: SIGTERM (fast shutdown, master takes its workers down), a
-- bounded wait, then SIGKILL for the master and the workers it had.
local function terminate(pid)
  local children = {}
  for c in capture("pgrep -P " .. pid .. " 2>/dev/null"):gmatch("%d+") do
    children[#children + 1] = c
  end
  run("kill -TERM " .. pid .. " 2>/dev/null")
  if not wait_gone(pid, TERM_POLLS) then
    run("kill -KILL " .. pid .. " 2>/dev/null")
    wait_gone(pid, 40)
  end
  for _, c in ipairs(children) do
    if alive(c) then
      run("kill -KILL " .. c .. " 2>/dev/null")
      wait_gone(c, 40)
    end
  end
end

---------------------------------------------------------------- HTTP

-- One request with a bounded timeout; returns status, body, headers or
-- nil, error.
local function http_request(url, method, body, timeout)
  local out = {}
  local old = http.TIMEOUT
  http.TIMEOUT = timeout or CONTROL_TIMEOUT
  local ok, r, status, headers = pcall(http.request, {
    url = url,
    method = method,
    headers = body and { ["content-type"] = "application/json", ["content-length"] = #body } or nil,
    source = body and ltn12.source.string(body) or nil,
    sink = ltn12.sink.table(out),
    redirect = false,
  })
  http.TIMEOUT = old
  if not ok then return nil, r end
  if not r then return nil, status end
  return status, table.concat(out), headers
end

-- lua-cjson 2.1 on Lua 5.3+ decodes every number as a float (200.0); give
-- whole numbers back as integers so they print and format as expected.
local function integers(v)
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = integers(x) end
  elseif type(v) == "number" and math.tointeger then
    return math.tointeger(v) or v
  end
  return v
end

local function control(method, path, value)
  local srv = M.srv
  if not srv then error("fake: not started", 3) end
  local body = value ~= nil and cjson.encode(value) or nil
  local status, text = http_request(srv.http_url .. path, method, body)
  if not status then error("fake: " .. method .. " " .. path .. ": " .. tostring(text), 3) end
  if type(status) ~= "number" or status >= 300 then
    error("fake: " .. method .. " " .. path .. " -> " .. tostring(status) .. " " .. tostring(text), 3)
  end
  local ok, decoded = pcall(cjson.decode, text)
  if ok then return integers(decoded) end
  return text
end

---------------------------------------------------------------- start

local function make_certs(dir)
  write_file(dir .. "/server.ext", table.concat({
    "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature, keyEncipherment",
    "extendedKeyUsage = serverAuth",
    "subjectAltName = IP:127.0.0.1, DNS:localhost",
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid, issuer",
    "",
  }, "\n"))
  local d = q(dir)
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  local cmd = "(" .. table.concat({
    "cd " .. d,
    "openssl req -x509 " .. ec .. " -keyout ca.key -out ca.pem -days 2"
      .. " -subj '/CN=genesys-tokens fake test CA'"
      .. " -addext 'basicConstraints=critical,CA:TRUE'"
      .. " -addext 'keyUsage=critical,keyCertSign,cRLSign'",
    "openssl req " .. ec .. " -keyout server.key -out server.csr -subj '/CN=127.0.0.1'",
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
      .. " -out server.pem -days 2 -extfile server.ext",
  }, " && ") .. ") >" .. q(dir .. "/openssl.log") .. " 2>&1"
  if not run(cmd) then
    error("fake: openssl failed:\n" .. (read_file(dir .. "/openssl.log") or ""), 3)
  end
end

local function render(template, vars)
  return (template:gsub("@([%u_]+)@", function(name)
    local v = vars[name]
    if v == nil then error("fake: no value for @" .. name .. "@ in nginx.conf.in") end
    return tostring(v)
  end))
end

local function spawn(nginx, dir)
  local cmd = q(nginx) .. " -p " .. q(dir .. "/") .. " -c " .. q(dir .. "/nginx.conf")
    .. " -g " .. q("daemon off; master_process on;")
    .. " >" .. q(dir .. "/nginx.out") .. " 2>&1 </dev/null & echo $!"
  return tonumber((capture(cmd):match("%d+")))
end

-- Polls /_fake/ping; returns true, or false and nginx's complaint.
local function wait_ready(pid, url, dir)
  for _ = 1, READY_POLLS do
    if not alive(pid) then break end
    local status, body = http_request(url .. "/_fake/ping", "GET", nil, 1)
    if status == 200 and body == "pong" then return true end
    socket.sleep(POLL_SLEEP)
  end
  return false, (read_file(dir .. "/nginx.out") or "") .. (read_file(dir .. "/error.log") or "")
end

local function euid()
  return tonumber((capture("id -u 2>/dev/null"):match("%d+")))
end

local function free_ports(n)
  local ports, seen = {}, {}
  for _ = 1, 10 * n do -- distinct ones; the kernel rarely repeats itself
    local p = free_port()
    if not seen[p] then
      seen[p] = true
      ports[#ports + 1] = p
    end
    if #ports == n then return ports end
  end
  error("fake: could not find " .. n .. " free ports")
end

-- Runs nginx in dir (certs already made); returns srv or raises.
local function launch(dir, opts)
  local template = assert(read_file(FAKE_DIR .. "/nginx.conf.in"))
  local log = ""
  for _ = 1, START_ATTEMPTS do
    local ports = free_ports(4)
    write_file(dir .. "/nginx.conf", render(template, {
      MODULES_DIR = opts.modules_dir or MODULES_DIR,
      -- As root nginx would drop its worker to nobody, who cannot use the
      -- 0700 temp dir; as anyone else the directive only draws a warning.
      USER_LINE = euid() == 0 and "user root;" or "",
      PREFIX = dir, FAKE_DIR = FAKE_DIR,
      HTTP_PORT = ports[1], TLS_PORT = ports[2], OTHER_PORT = ports[3], PROXY_PORT = ports[4],
    }))
    local pid = spawn(opts.nginx or NGINX, dir)
    if not pid then error("fake: could not spawn nginx") end
    local http_url = "http://127.0.0.1:" .. ports[1]
    local ready
    ready, log = wait_ready(pid, http_url, dir)
    if ready then
      return {
        http_url = http_url,
        https_url = "https://127.0.0.1:" .. ports[2],
        other_url = "http://127.0.0.1:" .. ports[3],
        proxy_url = "http://127.0.0.1:" .. ports[4],
        port = ports[1], tls_port = ports[2], other_port = ports[3], proxy_port = ports[4],
        ca_file = dir .. "/ca.pem",
        pid = pid, dir = dir,
        error_log = dir .. "/error.log",
      }
    end
    terminate(pid)
    -- Another process may have taken a port between our probe and nginx's
    -- bind: try again with new ones. Anything else is a real failure.
    if not log:find("Address already in use", 1, true) then break end
  end
  io.stderr:write("fake: nginx failed to start; its log:\n", log, "\n")
  error("fake: nginx failed to start:\n" .. log)
end

--- Starts the fake. opts.nginx (binary) and opts.modules_dir override the
--- Debian paths. Returns srv, also kept as fake.srv.
function M.start(opts)
  if M.srv then M.stop() end
  local dir = capture("mktemp -d \"${TMPDIR:-/tmp}/genesys-fake.XXXXXX\""):gsub("%s+$", "")
  assert(dir:match("/genesys%-fake%.[%w]+$"), "fake: mktemp failed")
  local ok, srv = pcall(function()
    assert(run("mkdir -p " .. q(dir .. "/tmp")))
    make_certs(dir)
    return launch(dir, opts or {})
  end)
  if not ok then
    run("rm -rf " .. q(dir))
    error(srv, 2)
  end
  -- Safety net: stop nginx if the Lua state is closed without stop().
  local function guard() if M.srv == srv then M.stop() end end
  if newproxy then -- Lua 5.1 / LuaJIT: only userdata have __gc
    srv._guard = newproxy(true)
    getmetatable(srv._guard).__gc = guard
  else
    srv._guard = setmetatable({}, { __gc = guard })
  end
  M.srv = srv
  return srv
end

--- Stops nginx by pid and removes the temp dir. Safe to call twice.
function M.stop()
  local srv = M.srv
  if not srv then return end
  M.srv = nil
  if srv.pid then terminate(srv.pid) end
  if srv.dir and srv.dir:match("/genesys%-fake%.[%w]+$") then
    run("rm -rf " .. q(srv.dir))
  end
end

---------------------------------------------------------------- control

function M.reset() return control("POST", "/_fake/reset", {}) end

--- Queues a fault, e.g. { kind = "status", status = 503, times = 2 }.
function M.fault(spec) return control("POST", "/_fake/fault", spec) end

--- The server state: orgs, users, clients, tokens, timeouts, faults,
--- oauth_clients (by client_id). tokens and users are indexed both by token
--- string / user id and, for ipairs, as an array sorted by that key; each
--- token record carries its `token`, issued ones also issued_by, issued_at,
--- expires_at and expired.
function M.state()
  local s = control("GET", "/_fake/state")
  for _, name in ipairs { "tokens", "users" } do
    local t, keys = s[name] or {}, {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys)
    for i, k in ipairs(keys) do t[i] = t[k] end
    s[name] = t
  end
  return s
end

--- One token's state record (nil if unknown), e.g. state_token("tok-bob-1").revoked
function M.state_token(token) return M.state().tokens[token] end

function M.add_token(spec) return control("POST", "/_fake/tokens", spec) end

--- Registers (or replaces) an OAuth client for POST /oauth/token:
--- { client_id, client_secret, expires_in = 86400, user_id = admin's,
---   oauth_client_id = admin_tool's, scopes?, permissions? }. Returns the record.
function M.add_oauth_client(spec) return control("POST", "/_fake/oauth_clients", spec) end

--- Makes a token a 401 from now on, as an admin revoking it elsewhere would.
--- Returns its state record; raises for an unknown token.
function M.revoke_token(token) return control("POST", "/_fake/revoke", { token = token }) end

--- State records of the tokens POST /oauth/token issued (of one client if
--- given), oldest first; each has token, issued_by, issued_at, expires_at,
--- expired and issued_n (1, 2, ... since the last reset).
function M.issued_tokens(client_id)
  local list = {}
  for _, t in ipairs(M.state().tokens) do
    if t.issued_by and (client_id == nil or t.issued_by == client_id) then list[#list + 1] = t end
  end
  table.sort(list, function(a, b) return a.issued_n < b.issued_n end)
  return list
end

function M.ping() return control("GET", "/_fake/ping") end

--- The request log since the last reset; JSON nulls (query, body) become nil.
function M.log()
  local entries = control("GET", "/_fake/log")
  if type(entries) ~= "table" then return {} end
  for _, e in ipairs(entries) do
    for k, v in pairs(e) do
      if v == cjson.null then e[k] = nil end
    end
  end
  return entries
end

return M
