-- Handlers of the fake Genesys Cloud "Tokens" API, run inside nginx with
-- lua-nginx-module (see nginx.conf.in). Loaded as `require "api"`.
--
-- API (Bearer token auth; routes matched on the raw request line):
--   GET|HEAD|DELETE /api/v2/tokens/me, DELETE /api/v2/tokens/{userId}
--   (needs oauth:token:delete), GET|PUT /api/v2/tokens/timeout (PUT needs
--   directory:organization:admin). A token past its expires_at is a 401.
-- Login (the "login host" is the same listeners): POST /oauth/token, the
--   client-credentials grant; errors in the OAuth shape, not ErrorBody.
-- Gateway: a raw path /gw/api/REST or /gw/login/REST is served as /REST.
-- Absolute-form request lines (what an HTTP proxy gets) are served too; the
--   "proxy" listener requires them and Proxy-Authorization (seed.proxy).
-- Control (plain JSON, not logged): GET /_fake/ping, POST /_fake/reset,
--   GET /_fake/log, GET /_fake/state, POST /_fake/fault, POST /_fake/tokens,
--   POST /_fake/oauth_clients, POST /_fake/revoke, GET|POST /_fake/config,
--   POST /_fake/users (bulk users), GET /_fake/revocations.
-- Fault kinds: status, 429, truncated_json, short_body, html, huge, trickle,
--   delay, reset, redirect (see apply_fault). A fault without `path` hits
--   API requests only; login needs path = "/oauth/token".
-- Config (DEFAULT_CONFIG; POST /_fake/config merges, reset restores):
--   rate_limit: a fixed window per calling token (login: per client id)
--     starting at its first request; inin-ratelimit-* headers always, and
--     when enforced a 429 beyond `count` that does not count itself.
--   latency: seconds every API and login request waits (ngx.sleep) after
--     the rate-limit check and before its answer, a 429 or a fault included.
--   log: false stops the request log.
-- Faults answer in the API's place: the rate limiter does not see them
-- (delay excepted: it then serves the request as usual).
-- Not here: /hostile/... and /_fake/hostile... are hostile.lua's (raw-byte
-- answers; see its header), with their own shared dict.
--
-- State lives in the shared dict `fake` (layout above `load_state`). The
-- server runs a single worker and no handler yields between reading and
-- writing it, so a plain read-modify-write is atomic enough.
local cjson = require "cjson"
local seed = require "seed"

local M = {}
local conf = {}

local dict = ngx.shared.fake

-- Debian's cjson 2.1.0 cannot encode an empty array (it writes {}), so empty
-- arrays are marked with this string and patched after encoding.
local EMPTY = "\1empty-array\1"
local EMPTY_JSON = '"\\u0001empty%-array\\u0001"'

local function arr(t)
  if t == nil or t == cjson.null or next(t) == nil then return EMPTY end
  return t
end

local function encode(v)
  return (cjson.encode(v):gsub(EMPTY_JSON, "[]"))
end

local function uuid()
  return string.format("%08x-%04x-4%03x-%04x-%06x%06x",
    math.random(0, 0xffffffff), math.random(0, 0xffff), math.random(0, 0xfff),
    math.random(0x8000, 0xbfff), math.random(0, 0xffffff), math.random(0, 0xffffff))
end

-- Percent-decode one path segment. Not ngx.unescape_uri: that one also turns
-- '+' into a space, which is wrong inside a path.
local function pct_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

---------------------------------------------------------------- state

-- What a client-credentials token may do unless its OAuth client says else.
local CC_SCOPES = { "admin", "oauth:token:delete" }
local CC_PERMISSIONS = { "oauth:token:delete", "directory:organization:admin" }
-- Genesys' default lifetime of a client-credentials token.
local CC_EXPIRES_IN = 86400

-- A registered OAuth client from seed.lua or POST /_fake/oauth_clients.
-- `user` may be a seed user key ("admin") or a user id.
local function oauth_client_record(spec)
  local user = spec.user_id or spec.user or "admin"
  if seed.users[user] then user = seed.users[user].id end
  return {
    client_id = spec.client_id, client_secret = spec.client_secret,
    expires_in = spec.expires_in or CC_EXPIRES_IN,
    user_id = user,
    oauth_client = spec.oauth_client or spec.oauth_client_id or seed.clients.admin_tool.id,
    scopes = copy(spec.scopes or CC_SCOPES),
    permissions = copy(spec.permissions or CC_PERMISSIONS),
  }
end

-- Server settings (POST /_fake/config); see the top of this file.
local DEFAULT_CONFIG = {
  rate_limit = { count = 300, window = 60, enforced = false },
  latency = 0,
  log = true,
}

local function fresh_state()
  local s = { orgs = {}, clients = {}, timeouts = copy(seed.timeouts), oauth_clients = {} }
  for _, o in pairs(seed.orgs) do s.orgs[o.id] = copy(o) end
  for _, c in pairs(seed.clients) do s.clients[c.id] = copy(c) end
  for _, oc in pairs(seed.oauth_clients) do
    s.oauth_clients[oc.client_id] = oauth_client_record(oc)
  end
  return s
end

local function get_json(key)
  local s = dict:get(key)
  return s and cjson.decode(s)
end

local function set_json(key, v)
  assert(dict:safe_set(key, cjson.encode(v)))
end

-- Keys of the shared dict:
--   state         JSON: orgs, clients, timeouts, oauth_clients (all small)
--   u:<user id>   JSON user              t:<token>  JSON token record
--   ut:<user id>  JSON list of the user's tokens, for DELETE /{userId}
--   rv:<user id>  how many DELETE /api/v2/tokens/{userId} succeeded
--   rl:t:<token>, rl:c:<client id>  rate-limit window: "start count"
--   config, faults, log_n, log:<n>, issued_n
-- Users and tokens have a key each so a request reads and writes only its
-- own: thousands of bulk users do not make every request slower.
local function load_state() return get_json("state") end
local function save_state(s) set_json("state", s) end

local function get_user(id) return get_json("u:" .. id) end
local function put_user(u) set_json("u:" .. u.id, u) end
local function get_token(tok) return get_json("t:" .. tok) end

-- Stores a token record; a new token also joins its user's list.
local function put_token(tok, t)
  if not dict:get("t:" .. tok) then
    local list = get_json("ut:" .. t.user_id) or {}
    list[#list + 1] = tok
    set_json("ut:" .. t.user_id, list)
  end
  set_json("t:" .. tok, t)
end

-- {id -> value} of the dict keys "<prefix><id>", decoded by `read`.
local function collect(prefix, read)
  local out = {}
  for _, k in ipairs(dict:get_keys(0)) do
    if k:sub(1, #prefix) == prefix then out[k:sub(#prefix + 1)] = read(k) end
  end
  return out
end

local function load_faults()
  return cjson.decode(dict:get("faults") or "[]")
end

local function save_faults(f)
  assert(dict:safe_set("faults", cjson.encode(f)))
end

function M.reset()
  dict:flush_all()
  dict:flush_expired()
  save_state(fresh_state())
  for _, u in pairs(seed.users) do put_user(copy(u)) end
  for tok, t in pairs(seed.tokens) do
    t = copy(t)
    t.revoked = false
    put_token(tok, t)
  end
  save_faults({})
  set_json("config", DEFAULT_CONFIG)
  dict:set("log_n", 0)
end

function M.init(c)
  conf = c or {}
  M.reset()
end

function M.init_worker()
  math.randomseed(ngx.now() * 1000 + ngx.worker.pid())
end

---------------------------------------------------------------- responses

local function set_headers(h)
  for k, v in pairs(h or {}) do ngx.header[k] = v end
end

local function send(status, body, ctype, headers)
  ngx.status = status
  ngx.header["Content-Type"] = ctype
  set_headers(headers)
  ngx.header["Content-Length"] = #body
  ngx.print(body) -- nginx drops the body itself for HEAD
end

local function send_json(status, value, headers)
  send(status, encode(value), "application/json", headers)
end

local CODES = {
  [400] = "bad.request", [401] = "bad.credentials", [403] = "missing.permissions",
  [404] = "not.found", [405] = "method.not.allowed", [408] = "request.timeout",
  [409] = "conflict", [413] = "request.entity.too.large", [415] = "unsupported.media.type",
  [429] = "too.many.requests", [500] = "internal.server.error", [501] = "not.implemented",
  [502] = "bad.gateway", [503] = "service.unavailable", [504] = "gateway.timeout",
}

local function error_body(status, code, message)
  return {
    message = message or ("The requested operation failed with status " .. status),
    code = code or CODES[status] or "error",
    status = status,
    contextId = ngx.ctx.cid,
    details = EMPTY,
    errors = EMPTY,
  }
end

local function send_error(status, code, message, headers, extra)
  local body = error_body(status, code, message)
  for k, v in pairs(extra or {}) do body[k] = v end
  send_json(status, body, headers)
end

local function send_401(headers)
  send_error(401, "bad.credentials", "Invalid login credentials.", headers)
end

local function send_403(permission, headers)
  send_error(403, "missing.permissions", "Unable to perform the requested action. "
    .. "You are missing the following permission(s): [" .. permission .. "]", headers)
end

-- The login host's error shape (reference 3.2), not ErrorBody.
local function send_oauth_error(status, err, description, headers)
  send_json(status, { error = err, description = description, error_description = description }, headers)
end

-- `error` of a 429 or status fault on the login (which answers in the
-- OAuth shape); RFC 6749 names the 503 one.
local OAUTH_ERRORS = { [429] = "too_many_requests", [503] = "temporarily_unavailable" }

-- The normalised 429 (reference 3.1), or its OAuth shape on the login.
-- limit: the ErrorBody `limit` object, if a known limit was hit.
local function send_too_many(ctx, secs, limit)
  local msg = "Rate limit exceeded the maximum. Retry the request in [" .. secs .. "] seconds"
  local h = { ["Retry-After"] = tostring(secs) }
  if ctx.login then return send_oauth_error(429, OAUTH_ERRORS[429], msg, h) end
  send_error(429, "too.many.requests.retry.after", msg, h, limit and { limit = limit })
end

---------------------------------------------------------------- requests

local function read_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if body then return body end
  local file = ngx.req.get_body_file()
  if not file then return nil end
  local f = io.open(file, "rb")
  if not f then return nil end
  body = f:read("*a")
  f:close()
  return body
end

local function bearer(headers)
  local h = headers["authorization"]
  if type(h) ~= "string" then return nil end
  return h:match("^[Bb][Ee][Aa][Rr][Ee][Rr] +(%S+) *$")
end

-- id and secret of a Basic Authorization header, split at the first ':'
-- as the SDKs join them (no form-encoding); nil and why not if there is none.
local function basic_pair(headers)
  local h = headers["authorization"]
  local b64 = type(h) == "string" and h:match("^[Bb][Aa][Ss][Ii][Cc] +(%S+) *$")
  local pair = b64 and ngx.decode_base64(b64)
  if not pair then return nil, "client authentication is required (HTTP Basic)" end
  local id, secret = pair:match("^([^:]*):(.*)$")
  if not id then return nil, "malformed Basic credentials" end
  return id, secret
end

-- Counts the request in its caller's fixed window (which starts at the
-- caller's first request) and sets ctx.rl to the inin-ratelimit-* headers.
-- The caller is the Bearer token ("-" for none), on the login the Basic
-- client id. When the limit is enforced and used up, returns the seconds
-- until the window resets and does not count the request. Expects
-- ngx.update_time() just before, so windows are as exact as the clock.
local function rate_limit(ctx)
  local rl = ctx.cfg.rate_limit
  local key = ctx.login and ("rl:c:" .. (basic_pair(ctx.headers) or "-"))
    or ("rl:t:" .. (bearer(ctx.headers) or "-"))
  local now = ngx.now()
  local start, count = (dict:get(key) or ""):match("^(%S+) (%d+)$")
  start, count = tonumber(start), tonumber(count)
  if not start or now >= start + rl.window then start, count = now, 0 end
  local left = math.max(1, math.ceil(start + rl.window - now))
  local over = rl.enforced and count >= rl.count
  if not over then
    count = count + 1
    assert(dict:safe_set(key, string.format("%.3f %d", start, count)))
  end
  ctx.rl = {
    ["inin-ratelimit-count"] = tostring(count),
    ["inin-ratelimit-allowed"] = tostring(rl.count),
    ["inin-ratelimit-reset"] = tostring(left),
  }
  return over and left or nil
end

-- Drops every rate-limit window: the next request of each caller starts one.
local function clear_windows()
  for _, k in ipairs(dict:get_keys(0)) do
    if k:sub(1, 3) == "rl:" then dict:delete(k) end
  end
end

local function append_log(ctx, entry)
  if not ctx.cfg.log then return end
  local n = dict:incr("log_n", 1, 0)
  local ok, err = dict:safe_set("log:" .. n, encode(entry))
  if not ok then ngx.log(ngx.ERR, "fake: cannot store log entry: ", err) end
  ngx.ctx.log_n = n
end

-- Log phase: record in the request's log entry the final status (444 for a
-- dropped connection) and whether the whole response went out (false when
-- the client gave up on a trickle or a fault cut the body short).
function M.log_phase()
  local n = ngx.ctx.log_n
  if not n then return end
  local s = dict:get("log:" .. n)
  if not s then return end
  ngx.update_time()
  -- Appended to the entry's JSON object as it is: no decoding, so a busy
  -- log costs little. finished, with `time`, shows how requests overlapped.
  dict:safe_set("log:" .. n, string.format('%s,"status":%d,"completed":%s,"finished":%.3f}',
    s:sub(1, -2), ngx.status, tostring(ngx.ctx.completed == true), ngx.now()))
end

-- Every response, nginx's own error pages included, gets a correlation id.
function M.header_filter()
  if not ngx.header["ININ-Correlation-Id"] then
    ngx.header["ININ-Correlation-Id"] = ngx.ctx.cid or uuid()
  end
end

---------------------------------------------------------------- TokenInfo

local function named(state, org_id)
  local o = state.orgs[org_id]
  return { id = org_id, name = o and o.name or cjson.null }
end

local function set_path(t, path, value)
  local keys = {}
  for k in path:gmatch("[^.]+") do keys[#keys + 1] = k end
  for i = 1, #keys - 1 do
    if type(t[keys[i]]) ~= "table" then t[keys[i]] = {} end
    t = t[keys[i]]
  end
  t[keys[#keys]] = value
end

local function token_info(state, t)
  local client = state.clients[t.client_id]
  if client then
    client.scope = arr(client.scope)
    client.roleDivisions = arr(client.roleDivisions)
  end
  local info = {
    organization = named(state, t.org_id),
    homeOrganization = named(state, t.home_org_id or t.org_id),
    authorizedScope = arr(t.scopes),
    dateTokenIdles = t.date_token_idles,
    OAuthClient = client,
  }
  if t.cloned_user then
    info.clonedUser = { id = t.cloned_user.id, organization = { id = t.cloned_user.org_id } }
  end
  for _, p in ipairs(t.json_nulls or {}) do set_path(info, p, cjson.null) end
  return info
end

local function permissions(t)
  local perms = t.permissions
  if perms == nil then
    local u = get_user(t.user_id)
    perms = u and u.permissions or {}
  end
  local set = {}
  for _, p in ipairs(perms) do set[p] = true end
  return set
end

---------------------------------------------------------------- API routes

local function get_me(ctx)
  local args = ngx.decode_args(ctx.query or "")
  local p = args.preserveIdleTTL
  if p ~= nil and p ~= "true" and p ~= "false" then
    return send_error(400, "bad.request", "Value [" .. tostring(p) ..
      "] is not valid for parameter [preserveIdleTTL] of type [boolean]", ctx.rl)
  end
  send_json(200, token_info(ctx.state, ctx.tok), ctx.rl)
end

local function head_me(ctx)
  send(200, "", "application/json", ctx.rl)
end

local function delete_me(ctx)
  ctx.tok.revoked = true
  put_token(ctx.tok_str, ctx.tok)
  set_headers(ctx.rl)
  ngx.status = 204
end

-- 204 for any known user, even one without live tokens left; counted per
-- user id (GET /_fake/revocations).
local function delete_user(ctx)
  if not permissions(ctx.tok)["oauth:token:delete"] then
    return send_403("oauth:token:delete", ctx.rl)
  end
  local user_id = ctx.user_id
  if not dict:get("u:" .. user_id) then
    return send_error(404, "not.found", "User not found", ctx.rl, { entityId = user_id })
  end
  for _, tok in ipairs(get_json("ut:" .. user_id) or {}) do
    local t = get_token(tok)
    if t and not t.revoked then
      t.revoked = true
      put_token(tok, t)
    end
  end
  dict:incr("rv:" .. user_id, 1, 0)
  set_headers(ctx.rl)
  ngx.status = 204
end

local DEFAULT_TIMEOUT = { idleTokenTimeoutSeconds = 900, enableIdleTokenTimeout = false }
-- The generated SDKs' enum values (only the API's prose says MINUTES/HOURS).
local UNITS = { Minutes = true, Hours = true }

local function is_int(v, lo, hi)
  return type(v) == "number" and v % 1 == 0 and v >= lo and v <= hi
end

-- A JSON array as cjson decodes it: only keys 1..n ({} counts, [] is {}).
local function is_array(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

-- One field check: returns nil when fine, else the 400 message naming it.
local CHECKS = {
  int = function(name, v, lo, hi)
    if not is_int(v, lo, hi) then
      return name .. " must be an integer between " .. lo .. " and " .. hi
    end
  end,
  bool = function(name, v)
    if type(v) ~= "boolean" then return name .. " must be a boolean" end
  end,
  unit = function(name, v)
    if not UNITS[v] then return name .. " must be Minutes or Hours" end
  end,
  strings = function(name, v)
    if not is_array(v) then return name .. " must be an array of strings" end
    for _, g in ipairs(v) do
      if type(g) ~= "string" then return name .. " must be an array of strings" end
    end
  end,
}

local BUNDLE_FIELDS = {
  { "priority", "int", 1, 5 }, { "timeoutSeconds", "int", 300, 28800 },
  { "inactivityTimeoutUnit", "unit" }, { "groups", "strings" },
}

-- Checks and copies one InactivityTimeoutGroupBundle (reference 2.9); JSON
-- nulls count as absent. Returns the copy, or nil and a message.
local function check_bundle(b, prefix)
  if type(b) ~= "table" or (next(b) ~= nil and is_array(b)) then
    return nil, prefix .. " must be an object"
  end
  local out = {}
  for _, f in ipairs(BUNDLE_FIELDS) do
    local v = b[f[1]]
    if v ~= nil and v ~= cjson.null then
      local err = CHECKS[f[2]](prefix .. "." .. f[1], v, f[3], f[4])
      if err then return nil, err end
      out[f[1]] = v
    end
  end
  return out
end

local TIMEOUT_FIELDS = {
  { "idleTokenTimeoutSeconds", "int", 300, 28800 }, { "enableIdleTokenTimeout", "bool" },
  { "inactivityTimeoutUnit", "unit" }, { "inactivityTimeoutGroupsEnabled", "bool" },
}

-- Checks an IdleTokenTimeout body (reference 2.8). Returns the known fields
-- it sets (unknown ones are dropped, JSON nulls count as absent), or nil
-- and a message naming the bad field.
local function check_timeout(body)
  local out = {}
  for _, f in ipairs(TIMEOUT_FIELDS) do
    local v = body[f[1]]
    if v ~= nil and v ~= cjson.null then
      local err = CHECKS[f[2]](f[1], v, f[3], f[4])
      if err then return nil, err end
      out[f[1]] = v
    end
  end
  local bundles = body.inactivityTimeoutGroupBundles
  if bundles ~= nil and bundles ~= cjson.null then
    if not is_array(bundles) then
      return nil, "inactivityTimeoutGroupBundles must be an array"
    end
    out.inactivityTimeoutGroupBundles = {}
    for i, b in ipairs(bundles) do
      local copy_b, err = check_bundle(b, "inactivityTimeoutGroupBundles[" .. (i - 1) .. "]")
      if not copy_b then return nil, err end
      out.inactivityTimeoutGroupBundles[i] = copy_b
    end
  end
  return out
end

-- The stored setting as JSON wants it: empty arrays stay arrays.
local function timeout_view(t)
  t = copy(t)
  if t.inactivityTimeoutGroupBundles then
    for _, b in ipairs(t.inactivityTimeoutGroupBundles) do
      if b.groups then b.groups = arr(b.groups) end
    end
    t.inactivityTimeoutGroupBundles = arr(t.inactivityTimeoutGroupBundles)
  end
  return t
end

local function get_timeout(ctx)
  send_json(200, timeout_view(ctx.state.timeouts[ctx.tok.org_id] or DEFAULT_TIMEOUT), ctx.rl)
end

-- PUT merges the fields given into the org's setting and answers with the
-- whole stored object.
local function put_timeout(ctx)
  if not permissions(ctx.tok)["directory:organization:admin"] then
    return send_403("directory:organization:admin", ctx.rl)
  end
  local ok, body = pcall(cjson.decode, ctx.body or "")
  if not ok or type(body) ~= "table" or (next(body) ~= nil and is_array(body)) then
    return send_error(400, "bad.request",
      "The request could not be understood by the server due to malformed syntax.", ctx.rl)
  end
  local fields, err = check_timeout(body)
  if not fields then
    local field = err:match("^(%S+)")
    return send_error(400, "bad.request", err, ctx.rl,
      { details = { { errorCode = "bad.request", fieldName = field } } })
  end
  local cur = ctx.state.timeouts[ctx.tok.org_id] or copy(DEFAULT_TIMEOUT)
  for k, v in pairs(fields) do cur[k] = v end
  ctx.state.timeouts[ctx.tok.org_id] = cur
  save_state(ctx.state)
  send_json(200, timeout_view(cur), ctx.rl)
end

local TOKENS = "/api/v2/tokens/"

-- Returns the table method -> handler for a raw path (gateway prefix gone),
-- or nil; may set ctx.user_id. Only the raw path is used, so "%2F" stays
-- inside a segment.
local function route(ctx)
  local path = ctx.route
  if path == TOKENS .. "me" then
    return { GET = get_me, HEAD = head_me, DELETE = delete_me }
  elseif path == TOKENS .. "timeout" then
    return { GET = get_timeout, PUT = put_timeout }
  elseif path:sub(1, #TOKENS) == TOKENS then
    local seg = path:sub(#TOKENS + 1)
    if seg == "" or seg:find("/", 1, true) then return nil end
    ctx.user_id = pct_decode(seg)
    return { DELETE = delete_user }
  end
  return nil
end

-- ctx.rl (rate-limit headers) is already set.
local function api(ctx)
  local methods = route(ctx)
  if not methods then
    return send_error(404, "not.found", nil, ctx.rl)
  end
  local handler = methods[ctx.method]
  if not handler then
    local allow = {}
    for m in pairs(methods) do allow[#allow + 1] = m end
    table.sort(allow)
    ctx.rl.Allow = table.concat(allow, ", ")
    return send_error(405, "method.not.allowed", "HTTP " .. ctx.method .. " is not supported for this resource", ctx.rl)
  end
  ctx.state = load_state()
  local tok_str = bearer(ctx.headers)
  local tok = tok_str and get_token(tok_str)
  if not tok or tok.revoked or (tok.expires_at and ngx.now() >= tok.expires_at) then
    return send_401(ctx.rl)
  end
  ctx.tok, ctx.tok_str = tok, tok_str
  return handler(ctx)
end

---------------------------------------------------------------- login

local LOGIN = "/oauth/token"
local FORM = "application/x-www-form-urlencoded"
-- RFC 6749 5.1: token responses must not be cached.
local NO_STORE = { ["Cache-Control"] = "no-store", Pragma = "no-cache" }
local TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

local function random_token()
  for _ = 1, 10 do -- a clash is all but impossible; bounded anyway
    local t = {}
    for i = 1, 64 do
      local k = math.random(1, #TOKEN_CHARS)
      t[i] = TOKEN_CHARS:sub(k, k)
    end
    local s = table.concat(t)
    if not dict:get("t:" .. s) then return s end
  end
  error("cannot make a fresh token")
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. string.format(".%03dZ", math.floor(t % 1 * 1000))
end

-- The registered client named by the Basic header, or nil and why not.
local function basic_client(headers, state)
  local id, secret = basic_pair(headers)
  if not id then return nil, secret end
  local oc = state.oauth_clients[id]
  if not oc then return nil, "client not found" end
  if oc.client_secret ~= secret then return nil, "client authentication failed" end
  return oc
end

-- Stores a real token for the client; returns the token response.
local function issue_token(oc)
  local user = get_user(oc.user_id) or {}
  local org = user.org_id or seed.orgs.acme.id
  local now = ngx.now()
  local tok = random_token()
  put_token(tok, {
    user_id = oc.user_id, org_id = org, home_org_id = org, client_id = oc.oauth_client,
    scopes = copy(oc.scopes), permissions = copy(oc.permissions),
    date_token_idles = iso(now + oc.expires_in), revoked = false,
    issued_by = oc.client_id, issued_at = now, expires_at = now + oc.expires_in,
    -- ngx.now() is cached per event-loop turn, so two logins may share
    -- issued_at: this serial orders them.
    issued_n = dict:incr("issued_n", 1, 0),
  })
  return { access_token = tok, token_type = "bearer", expires_in = oc.expires_in }
end

-- POST /oauth/token, client-credentials grant (reference 5.1).
local function login(ctx)
  if ctx.method ~= "POST" then
    return send_oauth_error(405, "invalid_request",
      "HTTP " .. ctx.method .. " is not supported for this resource", { Allow = "POST" })
  end
  local state = load_state()
  local oc, why = basic_client(ctx.headers, state)
  if not oc then return send_oauth_error(401, "invalid_client", why) end
  local ctype = ctx.headers["content-type"]
  local media = type(ctype) == "string" and ctype:match("^%s*([^;%s]+)")
  if not media or media:lower() ~= FORM then
    return send_oauth_error(400, "invalid_request", "Content-Type must be " .. FORM)
  end
  local grant = ngx.decode_args(ctx.body or "", 100).grant_type
  if grant ~= "client_credentials" then
    return send_oauth_error(400, "unsupported_grant_type", type(grant) == "string"
      and ("grant_type " .. grant .. " is not supported") or "grant_type is required")
  end
  send_json(200, issue_token(oc), NO_STORE)
end

---------------------------------------------------------------- faults

local KINDS = {
  status = true, ["429"] = true, truncated_json = true, short_body = true, html = true,
  huge = true, trickle = true, delay = true, reset = true, redirect = true,
}

-- A fault's path is a prefix of the raw path or of the routed one (gateway
-- prefix gone); with no path it hits API requests but not the login.
local function fault_matches(f, ctx)
  if f.method ~= nil and f.method ~= ctx.method then return false end
  if f.path == nil then return not ctx.login end
  return ctx.path:sub(1, #f.path) == f.path or ctx.route:sub(1, #f.path) == f.path
end

-- Takes (and uses up one time of) the first queued fault matching the request.
local function take_fault(ctx)
  local faults = load_faults()
  for i, f in ipairs(faults) do
    if fault_matches(f, ctx) then
      f.times = f.times - 1
      if f.times <= 0 then table.remove(faults, i) end
      save_faults(faults)
      return f
    end
  end
  return nil
end

-- TokenInfo JSON used as the body of the broken 200 responses: the caller's
-- own if its token is known, else the demo user's.
local function sample_info(ctx)
  local tok = bearer(ctx.headers)
  local t = tok and get_token(tok) or get_token(seed.demo_token)
  return encode(token_info(load_state(), t))
end

-- Body of the broken 200 responses: TokenInfo for the API; for the login a
-- token response whose token is real (issued to the caller's client if its
-- credentials are good, else to cc-admin-id), so a slow login can succeed.
local function sample_body(ctx)
  if not ctx.login then return sample_info(ctx) end
  local state = load_state()
  local oc = basic_client(ctx.headers, state) or state.oauth_clients[seed.oauth_clients.admin.client_id]
  return encode(issue_token(oc))
end

local function num(v, default, max)
  v = tonumber(v) or default
  if max and v > max then v = max end
  return v
end

-- What a load balancer in front of the API sends when the backend is down.
local HTML = "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
  .. "<center><h1>%d %s</h1></center>\r\n<hr><center>awselb/2.0</center>\r\n</body>\r\n</html>\r\n"
local REASONS = { [502] = "Bad Gateway", [503] = "Service Temporarily Unavailable", [504] = "Gateway Time-out" }

-- Sends the faulty response. Returns true when the request must then be
-- handled normally (delay). Every fault takes an optional `headers` object
-- added to the response. On the login, status and 429 answer in the OAuth
-- shape and the 200 bodies are token responses. Kind parameters (defaults):
--   status: status (500), code, message       429: retry_after (1)
--   html: status (502)                         delay: seconds (1)
--   huge: bytes (8 MiB), chunked (false)       redirect: status (302)
--   trickle: interval (0.2), bytes (50): the first `bytes` bytes go out one
--     per interval, then the rest at once, so the body stays valid JSON.
local function apply_fault(ctx, f)
  set_headers(f.headers)
  local kind = f.kind
  if kind == "status" then
    local status = num(f.status, 500)
    if ctx.login then
      send_oauth_error(status, f.code or OAUTH_ERRORS[status] or (status >= 500 and "server_error")
        or "invalid_request", f.message or ("The requested operation failed with status " .. status))
    else
      send_error(status, f.code, f.message)
    end
  elseif kind == "429" then
    send_too_many(ctx, num(f.retry_after, 1))
  elseif kind == "truncated_json" then
    local body = sample_body(ctx)
    send(200, body:sub(1, math.floor(#body / 2)), "application/json")
  elseif kind == "short_body" then
    local body = sample_body(ctx)
    ngx.status = 200
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Content-Length"] = #body
    ngx.print(body:sub(1, math.floor(#body / 2)))
    ngx.flush(true)
    return ngx.exit(444) -- close now: the client is left short of bytes
  elseif kind == "html" then
    local status = num(f.status, 502)
    local reason = REASONS[status] or "Error"
    send(status, HTML:format(status, reason, status, reason), "text/html")
  elseif kind == "huge" then
    local size = num(f.bytes, 8 * 1024 * 1024, 512 * 1024 * 1024)
    local head, tail = '{"padding":"', '"}'
    local fill = math.max(0, size - #head - #tail)
    ngx.status = 200
    ngx.header["Content-Type"] = "application/json"
    if not f.chunked then ngx.header["Content-Length"] = #head + fill + #tail end
    ngx.print(head)
    local piece = string.rep("x", 65536)
    while fill > 0 do -- bounded: size is capped above
      local k = math.min(fill, #piece)
      ngx.print(k == #piece and piece or piece:sub(1, k))
      if not ngx.flush(true) then ngx.ctx.cut = true return end -- client went away
      fill = fill - k
    end
    ngx.print(tail)
  elseif kind == "trickle" then
    local body = sample_body(ctx)
    local interval = num(f.interval, 0.2, 10)
    local slow = math.min(num(f.bytes, 50), #body)
    ngx.status = 200
    ngx.header["Content-Type"] = "application/json"
    -- content_length may announce more than is sent: a client must be able
    -- to refuse an oversize body from its headers alone.
    ngx.header["Content-Length"] = num(f.content_length, #body)
    for i = 1, slow do
      ngx.print(body:sub(i, i))
      if not ngx.flush(true) then ngx.ctx.cut = true return end
      ngx.sleep(interval)
    end
    ngx.print(body:sub(slow + 1))
  elseif kind == "delay" then
    ngx.sleep(num(f.seconds, 1, 300))
    return true
  elseif kind == "reset" then
    return ngx.exit(444) -- nginx closes the connection without a response
  elseif kind == "redirect" then
    ngx.status = num(f.status, 302)
    ngx.header["Location"] = "http://127.0.0.1:" .. conf.other_port .. (ctx.login and LOGIN or "/api/v2/tokens/me")
    ngx.header["Content-Length"] = 0
  end
  return false
end

---------------------------------------------------------------- control

-- Checks a POST /_fake/config body and merges it into cfg. Giving
-- rate_limit enforces it unless it says enforced = false. Returns the new
-- config, or nil and a message.
local function merge_config(cfg, body)
  for k in pairs(body) do
    if DEFAULT_CONFIG[k] == nil then return nil, "unknown setting " .. tostring(k) end
  end
  local rl = body.rate_limit
  if rl ~= nil then
    if type(rl) ~= "table" or (next(rl) ~= nil and is_array(rl)) then
      return nil, "rate_limit must be an object"
    end
    for k in pairs(rl) do
      if DEFAULT_CONFIG.rate_limit[k] == nil then return nil, "unknown rate_limit setting " .. tostring(k) end
    end
    if rl.count ~= nil and not is_int(rl.count, 1, 10 ^ 9) then
      return nil, "rate_limit.count must be a whole number of requests, at least 1"
    end
    if rl.window ~= nil and not (type(rl.window) == "number" and rl.window > 0 and rl.window <= 86400) then
      return nil, "rate_limit.window must be seconds, more than 0 and at most 86400"
    end
    if rl.enforced ~= nil and type(rl.enforced) ~= "boolean" then
      return nil, "rate_limit.enforced must be a boolean"
    end
    cfg.rate_limit = { count = rl.count or cfg.rate_limit.count, window = rl.window or cfg.rate_limit.window,
      enforced = rl.enforced ~= false }
  end
  local lat = body.latency
  if lat ~= nil then
    if type(lat) ~= "number" or lat < 0 or lat > 60 then
      return nil, "latency must be seconds, from 0 to 60"
    end
    cfg.latency = lat
  end
  if body.log ~= nil then
    if type(body.log) ~= "boolean" then return nil, "log must be a boolean" end
    cfg.log = body.log
  end
  return cfg
end

local MAX_BULK = 50000 -- users per POST /_fake/users
local BULK_BYTES = 1024 -- dict space a bulk user and its token take (about 900 bytes)
local DICT_RESERVE = 4 * 1024 * 1024 -- left for the log and the rest after a bulk add

-- POST /_fake/users { count, prefix = "bulk-", start = 1 }: users
-- <prefix>00001... (start, start + 1, ...), each with one token
-- "tok-<user id>" (web app client, no permissions). Nothing is made if one
-- of them exists. Returns { ids = [...], tokens = [...] }.
local function add_users(body)
  local prefix, start = body.prefix or "bulk-", body.start or 1
  if not is_int(body.count, 1, MAX_BULK) or type(prefix) ~= "string" or not is_int(start, 0, 10 ^ 9) then
    return send_json(400, { error = "count (1.." .. MAX_BULK .. ") is required; prefix is a string,"
      .. " start a whole number" })
  end
  -- Refuse rather than fill the dict halfway.
  if dict:free_space() < body.count * BULK_BYTES + DICT_RESERVE then
    return send_json(507, { error = "not enough room in lua_shared_dict fake for "
      .. body.count .. " more users" })
  end
  local ids, toks = {}, {}
  for i = 1, body.count do
    ids[i] = string.format("%s%05d", prefix, start + i - 1)
    toks[i] = "tok-" .. ids[i]
    if dict:get("u:" .. ids[i]) or dict:get("t:" .. toks[i]) then
      return send_json(409, { error = "user or token exists: " .. ids[i] })
    end
  end
  local org, client = seed.orgs.acme.id, seed.clients.web_app.id
  for i, id in ipairs(ids) do
    put_user { id = id, name = id, org_id = org, permissions = {} }
    put_token(toks[i], { user_id = id, org_id = org, home_org_id = org, client_id = client,
      scopes = { "users:readonly" }, date_token_idles = "2031-01-01T14:00:00.000Z", revoked = false })
  end
  return send_json(201, { ids = ids, tokens = toks })
end

local function control(ctx)
  local p, m = ctx.path, ctx.method
  if p == "/_fake/ping" then
    return send(200, "pong", "text/plain")
  elseif p == "/_fake/reset" and m == "POST" then
    M.reset()
    return send_json(200, { ok = true })
  elseif p == "/_fake/log" and m == "GET" then
    local parts = {}
    for i = 1, dict:get("log_n") or 0 do
      parts[#parts + 1] = dict:get("log:" .. i)
    end
    return send(200, "[" .. table.concat(parts, ",") .. "]", "application/json")
  elseif p == "/_fake/state" and m == "GET" then
    local s = load_state()
    local now = ngx.now()
    s.users = collect("u:", get_json)
    s.tokens = collect("t:", get_json)
    for tok, t in pairs(s.tokens) do
      t.token = tok
      if t.expires_at then t.expired = now >= t.expires_at end
    end
    s.faults = arr(load_faults())
    return send_json(200, s)
  elseif p == "/_fake/config" and m == "GET" then
    return send_json(200, get_json("config"))
  elseif p == "/_fake/revocations" and m == "GET" then
    return send_json(200, collect("rv:", function(k) return dict:get(k) end))
  end

  local ok, body = pcall(cjson.decode, ctx.body or "")
  if not ok or type(body) ~= "table" then body = nil end
  if p == "/_fake/config" and m == "POST" then
    if not body or (next(body) ~= nil and is_array(body)) then
      return send_json(400, { error = "body must be a JSON object" })
    end
    local cfg, err = merge_config(get_json("config"), body)
    if not cfg then return send_json(400, { error = err }) end
    set_json("config", cfg)
    if body.rate_limit ~= nil then clear_windows() end
    return send_json(200, cfg)
  elseif p == "/_fake/users" and m == "POST" then
    return add_users(body or {})
  elseif p == "/_fake/fault" and m == "POST" then
    if not body or not KINDS[tostring(body.kind)] then
      return send_json(400, { error = "body must be JSON with a known kind" })
    end
    body.kind = tostring(body.kind)
    body.times = math.max(1, math.floor(tonumber(body.times) or 1))
    if body.method then body.method = tostring(body.method):upper() end
    local faults = load_faults()
    faults[#faults + 1] = body
    save_faults(faults)
    return send_json(201, { queued = #faults })
  elseif p == "/_fake/tokens" and m == "POST" then
    if not body or type(body.token) ~= "string" or type(body.user_id) ~= "string" then
      return send_json(400, { error = "token and user_id (strings) are required" })
    end
    if dict:get("t:" .. body.token) then
      return send_json(409, { error = "token exists" })
    end
    local user = get_user(body.user_id)
    if not user then
      user = { id = body.user_id, name = body.user_name or body.user_id,
        org_id = body.org_id or seed.orgs.acme.id, permissions = body.user_permissions or {} }
      put_user(user)
    end
    local t = {
      user_id = user.id,
      org_id = body.org_id or user.org_id,
      home_org_id = body.home_org_id or body.org_id or user.org_id,
      client_id = body.client_id or seed.clients.web_app.id,
      scopes = body.scopes or { "users:readonly" },
      permissions = body.permissions,
      date_token_idles = body.date_token_idles or "2031-01-01T14:00:00.000Z",
      cloned_user = body.cloned_user,
      json_nulls = body.json_nulls,
      revoked = false,
    }
    put_token(body.token, t)
    return send_json(201, t)
  elseif p == "/_fake/oauth_clients" and m == "POST" then
    -- Registers (or replaces) a client-credentials OAuth client.
    local ei = body and body.expires_in
    if not body or type(body.client_id) ~= "string" or body.client_id == ""
      or body.client_id:find(":", 1, true) or type(body.client_secret) ~= "string"
      or (ei ~= nil and not is_int(ei, 0, 10 ^ 9)) then
      return send_json(400, { error = "client_id (no ':'), client_secret (strings) are required;"
        .. " expires_in is a whole number of seconds" })
    end
    local state = load_state()
    local oc = oauth_client_record(body)
    if not dict:get("u:" .. oc.user_id) then
      put_user { id = oc.user_id, name = oc.user_id, org_id = seed.orgs.acme.id, permissions = {} }
    end
    state.oauth_clients[oc.client_id] = oc
    save_state(state)
    return send_json(201, oc)
  elseif p == "/_fake/revoke" and m == "POST" then
    -- What an admin revoking a token elsewhere does: it is a 401 from now on.
    if not body or type(body.token) ~= "string" then
      return send_json(400, { error = "token (string) is required" })
    end
    local t = get_token(body.token)
    if not t then return send_json(404, { error = "no such token" }) end
    t.revoked = true
    put_token(body.token, t)
    return send_json(200, t)
  end
  return send_json(404, { error = "no such control endpoint: " .. m .. " " .. p })
end

---------------------------------------------------------------- entry

-- True when the request carries seed.proxy's Basic credentials.
local function proxy_authorized(headers)
  local h = headers["proxy-authorization"]
  local b64 = type(h) == "string" and h:match("^[Bb][Aa][Ss][Ii][Cc] +(%S+) *$")
  return b64 and ngx.decode_base64(b64) == seed.proxy.user .. ":" .. seed.proxy.password or false
end

-- The proxy listener's own refusals, before the API sees the request.
-- Returns true when it answered.
local function proxy_refused(ctx)
  if not ctx.target then
    send(400, "a forward proxy takes absolute-form targets only\n", "text/plain")
  elseif not proxy_authorized(ctx.headers) then
    send(407, "Proxy Authentication Required\n", "text/plain",
      { ["Proxy-Authenticate"] = 'Basic realm="fake"' })
  else
    return false
  end
  return true
end

-- Splits the request target. nginx (1.22) already strips scheme and host of
-- an absolute-form target from $request_uri ("GET http://h:1/a?b" gives
-- "/a?b", "GET http://h:1" gives "/"); $request keeps the line as sent.
-- Sets ctx.request_uri, target (absolute form or nil), path, query, and
-- route/gateway (path without a /gw/api or /gw/login prefix).
local function parse_target(ctx)
  ctx.request_uri = ngx.var.request_uri
  ctx.target = (ngx.var.request or ""):match("^%S+ +(%a[%w+.-]*://%S*)")
  local uri = ctx.request_uri
  local rest = uri:match("^%a[%w+.-]*://[^/?]*(.*)$") -- in case nginx did not strip it
  if rest then
    ctx.target = ctx.target or uri
    uri = rest:sub(1, 1) == "/" and rest or "/" .. rest
  end
  ctx.path, ctx.query = uri:match("^([^?]*)%??(.*)$")
  if not uri:find("?", 1, true) then ctx.query = nil end
  local gw, routed = ctx.path:match("^/gw/(%a+)(/.*)$")
  if gw == "api" or gw == "login" then
    ctx.gateway, ctx.route = gw, routed
  else
    ctx.route = ctx.path
  end
  ctx.login = ctx.route == LOGIN
end

local function handle(server)
  local ctx = {}
  ngx.update_time() -- exact `time` in the log and exact rate-limit windows
  ngx.ctx.cid = uuid()
  ngx.header["ININ-Correlation-Id"] = ngx.ctx.cid
  ctx.method = ngx.req.get_method()
  parse_target(ctx)
  ctx.body = read_body()

  if server == "api" and ctx.path:sub(1, 7) == "/_fake/" then
    return control(ctx)
  end

  ctx.cfg = get_json("config")
  ctx.headers = ngx.req.get_headers(0)
  local entry = {
    server = server, scheme = ngx.var.scheme, method = ctx.method,
    request_uri = ctx.request_uri, path = ctx.path,
    query = ctx.query or cjson.null, headers = ctx.headers,
    body = ctx.body or cjson.null, time = ngx.now(), correlation_id = ngx.ctx.cid,
    -- nginx's serial number of the TCP connection: shows keep-alive reuse.
    connection = tonumber(ngx.var.connection),
    -- absolute-form request line (as a proxy gets it): target is that URL.
    proxied = ctx.target ~= nil, target = ctx.target,
    gateway = ctx.gateway, route = ctx.route,
  }
  if server == "other" then
    append_log(ctx, entry)
    send(200, "{}", "application/json")
    ngx.ctx.completed = true
    return
  end
  if server == "proxy" and proxy_refused(ctx) then
    append_log(ctx, entry)
    ngx.ctx.completed = true
    return
  end

  local f = take_fault(ctx)
  entry.fault = f and f.kind or nil
  append_log(ctx, entry)
  -- The limiter counts at arrival; a fault answering in the API's place
  -- is not seen by it.
  local retry_after
  if not f or f.kind == "delay" then retry_after = rate_limit(ctx) end
  -- Then the latency, so concurrent requests overlap; every answer waits.
  if ctx.cfg.latency > 0 then ngx.sleep(ctx.cfg.latency) end
  if not f or apply_fault(ctx, f) then
    set_headers(ctx.rl)
    if retry_after then
      send_too_many(ctx, retry_after,
        { key = "token.rate.per.minute", namespace = "platform.api", value = ctx.cfg.rate_limit.count })
    elseif ctx.login then
      login(ctx)
    else
      api(ctx)
    end
  end
  -- Not reached when the client hung up (lua_check_client_abort ends the
  -- handler) or a fault dropped the connection.
  ngx.ctx.completed = not ngx.ctx.cut
end

function M.handle(server)
  local ok, err = xpcall(handle, debug.traceback, server)
  if not ok then
    ngx.log(ngx.ERR, "fake api: ", err)
    if not ngx.headers_sent then
      send_error(500, "internal.server.error", "fake server error: " .. tostring(err))
    end
  end
end

return M
