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
--   fake.configure{ rate_limit = { count = 5, window = 2 }, latency = 0.05, log = false }
--   fake.add_users{ count = 2000 }, fake.revocations(), fake.config()
--   fake.reset(), fake.ping(), fake.stop()   -- fake.seed: seed.lua's table
--   fake.hostile(nonce)    -- what the hostile server got for a nonce
--   fake.hostile()         -- its modes and the answers' JSON texts
--
-- The login host is the same listeners (POST /oauth/token); a gateway is
-- http_url .. "/gw/api" (API) and http_url .. "/gw/login" (login); the
-- proxy at proxy_url wants Basic seed.proxy.user:seed.proxy.password.
-- Faults and endpoints are described at the top of fake/api.lua. The
-- hostile server (raw bytes: split, chunked, stalled, oversize, echoing)
-- answers under http_url .. "/hostile/<mode>/<nonce>" and the same path of
-- https_url; its modes are described at the top of fake/hostile.lua.
--
-- Only 127.0.0.1 is ever used. Every wait below is bounded.
local cjson = require "cjson"
local nginx = require "spec.support.nginx"

local M = {}

local q, run = nginx.q, nginx.execute
local read_file, write_file = nginx.read_file, nginx.write_file
M.execute = run -- os.execute as (ok, exit code) on every Lua, for specs

local FAKE_DIR = nginx.dir_of_caller() .. "/fake"
M.seed = dofile(FAKE_DIR .. "/seed.lua")

---------------------------------------------------------------- HTTP

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
  local status, text = nginx.request(srv.http_url .. path, method, body)
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

-- Runs nginx in dir (certs already made); returns srv or raises.
local function launch(dir, opts)
  local template = assert(read_file(FAKE_DIR .. "/nginx.conf.in"))
  local pid, ports = nginx.start {
    dir = dir, nginx = opts.nginx, nports = 4,
    render = function(p)
      return render(template, {
        MODULES_DIR = opts.modules_dir or nginx.MODULES_DIR, USER_LINE = nginx.user_line(),
        PREFIX = dir, FAKE_DIR = FAKE_DIR,
        HTTP_PORT = p[1], TLS_PORT = p[2], OTHER_PORT = p[3], PROXY_PORT = p[4],
      })
    end,
    ready_url = function(p) return "http://127.0.0.1:" .. p[1] .. "/_fake/ping" end,
    ready = function(status, body) return status == 200 and body == "pong" end,
  }
  return {
    http_url = "http://127.0.0.1:" .. ports[1],
    https_url = "https://127.0.0.1:" .. ports[2],
    other_url = "http://127.0.0.1:" .. ports[3],
    proxy_url = "http://127.0.0.1:" .. ports[4],
    port = ports[1], tls_port = ports[2], other_port = ports[3], proxy_port = ports[4],
    ca_file = dir .. "/ca.pem",
    pid = pid, dir = dir,
    error_log = dir .. "/error.log",
  }
end

--- Starts the fake. opts.nginx (binary) and opts.modules_dir override the
--- Debian paths. Returns srv, also kept as fake.srv.
function M.start(opts)
  if M.srv then M.stop() end
  local dir = nginx.tempdir("fake")
  local ok, srv = pcall(function()
    make_certs(dir)
    return launch(dir, opts or {})
  end)
  if not ok then
    nginx.remove_tempdir(dir)
    error(srv, 2)
  end
  -- Safety net: stop nginx if the Lua state is closed without stop().
  srv._guard = nginx.guard(function() if M.srv == srv then M.stop() end end)
  M.srv = srv
  return srv
end

--- Stops nginx by pid and removes the temp dir. Safe to call twice.
function M.stop()
  local srv = M.srv
  if not srv then return end
  M.srv = nil
  if srv.pid then nginx.stop(srv.pid) end
  nginx.remove_tempdir(srv.dir)
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

--- Changes server settings, merged into the current ones (fake.reset()
--- restores the defaults); returns the whole config. Raises on a bad one.
---   rate_limit = { count = 300, window = 60, enforced = false }: a fixed
---     window of `window` seconds (fractions work) per calling token (login:
---     per client id) from its first request; inin-ratelimit-count/allowed/
---     reset on every response. Giving rate_limit enforces it (unless it
---     says enforced = false) and restarts every window: a request beyond
---     `count` gets a 429 with Retry-After (seconds to the window's end) and
---     is not counted. Faults bypass the limiter.
---   latency = 0: seconds every API and login request waits (non-blocking),
---     after the rate-limit check, before its answer (429s and faults too).
---   log = true: false records nothing in fake.log() (revocations still count).
function M.configure(settings) return control("POST", "/_fake/config", settings or {}) end

--- The current settings (see configure).
function M.config() return control("GET", "/_fake/config") end

--- Makes users <prefix>00001, <prefix>00002... (from `start`), each with
--- one token "tok-<id>", in one request: { count (1..50000), prefix =
--- "bulk-", start = 1 }. Raises if one exists. Returns ids, tokens (lists).
function M.add_users(spec)
  local r = control("POST", "/_fake/users", spec)
  return r.ids, r.tokens
end

--- { [user_id] = n }: how many DELETE /api/v2/tokens/{userId} of each user
--- succeeded (204) since the last reset, logged or not.
function M.revocations() return control("GET", "/_fake/revocations") end

--- The hostile server (fake/hostile.lua). With a nonce: what it received
--- under that nonce, { count, requests = { { n, method, path, query,
--- authorization, raw_header, body, mode, time, status, correlation_id }... },
--- tokens = { issued access tokens } } (JSON nulls become nil); without:
--- { modes = { names }, token_info = JSON text, idle_timeout = JSON text }.
--- fake.reset() does not clear it: every case takes a fresh nonce.
function M.hostile(nonce)
  if nonce ~= nil and not tostring(nonce):match("^[%w_.~-]+$") then
    error("fake.hostile: a nonce is letters, digits and _ . ~ -", 2)
  end
  local r = control("GET", "/_fake/hostile" .. (nonce and "/" .. nonce or ""))
  for _, e in ipairs(r.requests or {}) do
    for k, v in pairs(e) do
      if v == cjson.null then e[k] = nil end
    end
  end
  return r
end

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
