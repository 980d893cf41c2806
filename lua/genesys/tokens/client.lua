-- A client: validated settings, a token source, a transport (the C core
-- over libcurl), retries and logging, and the Tokens calls as methods.
-- Runtime failures return nil, err; misuse raises at the caller of the
-- public function.
local auth = require "genesys.tokens.auth"
local bulk = require "genesys.tokens.bulk"
local core = require "genesys.tokens.core"
local errors = require "genesys.tokens.errors"
local idle_timeout = require "genesys.tokens.idle_timeout"
local json = require "genesys.tokens.json"
local log = require "genesys.tokens.log"
local options = require "genesys.tokens.options"
local retry = require "genesys.tokens.retry"

local ngx = ngx -- a global inside OpenResty only

local client = {}

local Client = {}
Client.__index = Client

local function misuse(message, level)
  error("genesys.tokens: " .. message, level + 1)
end

-- What trace-level log entries show of the request headers.
local function logged_headers(s)
  local headers = { ["User-Agent"] = (s.user_agent and s.user_agent .. " " or "") .. core.user_agent }
  for _, line in ipairs(s.headers) do
    local name, value = line:match("^([^:]+): (.*)$")
    headers[name] = value
  end
  return headers
end

-- The token of a client whose me() without options can go straight to the
-- C core: a fixed access token, libcurl, no logger. Kept out of the client
-- table, as the token source keeps its secrets.
local direct_token = setmetatable({}, { __mode = "k" })

--- A new client from options (see options.lua); raises on bad options.
-- `level` 1 blames the caller of client.new.
function client.new(opts, level)
  level = (level or 1) + 1
  local s = options.client(opts, level)
  local transport, err = core.new {
    base_url = s.base_url,
    login_url = s.login_url,
    timeout_ms = math.max(1, math.floor(s.timeout * 1000 + 0.5)),
    connect_timeout_ms = math.max(1, math.floor(s.connect_timeout * 1000 + 0.5)),
    max_body = s.max_body,
    ca_file = s.ca_file,
    proxy = s.proxy,
    no_proxy = s.no_proxy,
    user_agent = s.user_agent,
    headers = s.headers,
  }
  if not transport then misuse(err, level) end
  s.log_request_headers = logged_headers(s)
  local self = setmetatable({
    base_url = s.base_url,
    login_url = s.login_url,
    _transport = transport,
    _cosockets = s.in_nginx and s.transport ~= "curl" and require("genesys.tokens.transport.ngx").new(s) or nil,
    _mode = s.transport,
    _allow_blocking = s.allow_blocking,
    _source = auth.new(s),
    _retry = s.retry,
    _logger = log.new(s),
    _now = core.now,
    _sleep = core.sleep,
  }, Client)
  if s.access_token and not self._cosockets and not self._logger then direct_token[self] = s.access_token end
  return self
end

function Client:__tostring()
  return ("genesys.tokens client (%s)%s"):format(self.base_url, self._closed and " closed" or "")
end

-- nginx phases in which cosockets work; in the others a call would block
-- the worker (https://github.com/openresty/lua-nginx-module#cosockets-not-available-everywhere).
local COSOCKET_PHASES = {
  rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true, preread = true,
}

-- The transport for this call, with its sleep and clock; or nil and the
-- "blocked" error for an nginx phase where only blocking I/O is possible.
local function pick(self)
  if not self._cosockets then return self._transport, self._sleep, self._now end
  local phase = ngx.get_phase()
  if COSOCKET_PHASES[phase] then
    local cosockets = require "genesys.tokens.transport.ngx"
    return self._cosockets, ngx.sleep, cosockets.now
  end
  if self._allow_blocking then return self._transport, self._sleep, self._now end
  return nil, errors.new { kind = "blocked", message = ("cannot call Genesys Cloud in nginx's %s phase "
    .. "without blocking the worker: call it from rewrite, access or content, or from "
    .. "ngx.timer.at(0, ...), or build the client with allow_blocking = true"):format(phase) }
end

-- Every secret in play, for scrubbing errors and log entries: built only
-- when something is to be scrubbed, not on every call.
local function secrets_of(self, bearer)
  local list = self._source:secrets()
  list[#list + 1] = bearer
  return list
end

-- Sends with the retry policy: send(transport, a, b, c) returns the core's
-- result table, or a body the core decoded itself and its 2xx status (a
-- success: nothing to retry; the core decodes only without a logger).
-- Each attempt is logged (when a logger is set). Returns the last result,
-- the attempt count and the decoded status. No closure or table is made
-- per call on the way: this is every call's hot path.
-- `answered`, when given, is the result of a first attempt the caller made
-- itself (Client:me's direct path, never with a logger).
local function send_with_retries(self, transport, sleep, now, send, a, b, c, bearer, request_body, is_login,
                                 answered)
  local waited, attempt = 0, 0
  local logger = self._logger
  while true do
    attempt = attempt + 1
    local res = answered
    if res then
      answered = nil
    else
      -- A logger or another coroutine may have closed the client meanwhile.
      if self._closed then error("genesys.tokens: attempt to use a closed client", 0) end
      local started = logger and now()
      local decoded
      res, decoded = send(transport, a, b, c)
      if decoded then return res, attempt, decoded end
      if logger then
        log.attempt(logger, { res = res, attempt = attempt, duration = now() - started,
          secrets = secrets_of(self, bearer), request_body = request_body, is_login = is_login })
      end
    end
    -- Only a failure may be retried: a success does not ask the policy.
    local delay = (res.kind or res.status >= 400) and retry.delay(self._retry, attempt, res, waited)
    if not delay then return res, attempt end
    if delay > 0 then sleep(delay) end
    waited = waited + delay
  end
end

local function send_login(t, client_id, client_secret) return t:login(client_id, client_secret) end

-- The login the token source calls: the grant with the client's retries.
local function login_with(self, transport, sleep, now)
  return function(client_id, client_secret)
    local res = send_with_retries(self, transport, sleep, now, send_login, client_id, client_secret, nil,
      nil, "grant_type=client_credentials", true)
    return res
  end
end

-- What self._last holds when the last response is the one the C core keeps
-- (a body it decoded itself): asked for only when someone wants it.
local IN_CORE = {}

-- Keeps what last_response() gives: res, or (`decoded`) the core's copy.
local function remember(self, res, attempts, decoded)
  if decoded then
    self._last, self._last_attempts = IN_CORE, attempts
  elseif res.status then
    self._last, self._last_attempts = res, attempts
  end
end

--- The status, correlation id, Retry-After and rate-limit headers of the
-- last HTTP response this client received (nil before the first).
function Client:last_response()
  local res = self._last
  if res == IN_CORE then res = self._transport:last_response() end
  if not res then return nil end
  return {
    method = res.method, url = res.url, status = res.status, attempts = self._last_attempts,
    correlation_id = res.correlation_id, retry_after = res.retry_after,
    ratelimit = { count = res.ratelimit_count, allowed = res.ratelimit_allowed, reset = res.ratelimit_reset },
  }
end

-- How each call is sent and what its success returns.
local CALLS = {
  me = {
    options = { access_token = "string", preserve_idle_ttl = "boolean", raw = "boolean" },
    -- `decode`: the core decodes a 2xx body itself, sparing a Lua string of
    -- it (see send_with_retries); the ngx transport ignores it.
    send = function(t, token, o, decode) return t:me(token, o.preserve_idle_ttl == true, decode) end,
    returns = "object",
    decodes = true,
  },
  verify = {
    options = { access_token = "string" },
    send = function(t, token) return t:verify(token) end,
    returns = "true",
  },
  revoke_me = {
    options = { access_token = "string" },
    send = function(t, token) return t:revoke_me(token) end,
    returns = "true",
  },
  revoke = {
    options = { access_token = "string" },
    check = function(user_id, level) options.check_user_id(user_id, level + 1) return user_id end,
    send = function(t, token, _, user_id) return t:revoke(token, user_id) end,
    returns = "true",
  },
  idle_timeout = {
    options = { access_token = "string", raw = "boolean" },
    send = function(t, token) return t:idle_timeout(token) end,
    returns = "object",
  },
  set_idle_timeout = {
    options = { access_token = "string" },
    check = function(value, level)
      local body, problem = idle_timeout.encode(value)
      if not body then misuse(problem, level + 1) end
      return body
    end,
    send = function(t, token, _, body) return t:set_idle_timeout(token, body) end,
    returns = "object",
  },
}

local NO_TOKEN = "no credentials: set GENESYSCLOUD_ACCESS_TOKEN (or GENESYSCLOUD_OAUTHCLIENT_ID and "
  .. "GENESYSCLOUD_OAUTHCLIENT_SECRET), or pass access_token (or client_id and client_secret)"

local function result_of(self, call, res, bearer, raw)
  if res.kind then
    return nil, errors.new({ kind = res.kind, code = res.code, message = res.message,
      correlation_id = res.correlation_id }, secrets_of(self, bearer))
  end
  if res.status < 200 or res.status > 299 then
    return nil, errors.from_response(res, secrets_of(self, bearer))
  end
  if call.returns == "true" then return true end
  local value, err = nil, res.decode_error -- from the core: a body it could not decode
  if not err then value, err = json.decode_object(res.body) end
  if value and raw then return res.body end -- checked, but as the API sent it
  if not value then
    return nil, errors.new({ kind = "decode", status = res.status, message = err,
      correlation_id = res.correlation_id }, secrets_of(self, bearer))
  end
  return value
end

-- Runs one call: validates, obtains a token, sends with retries (and once
-- more with a fresh token after a 401 on one it obtained itself), and
-- turns the answer into the call's result. `level` 1 blames the caller of
-- run, 2 its caller. `answered`: see send_with_retries.
local function run(self, name, opts, arg, level, answered)
  level = level + 1
  if getmetatable(self) ~= Client then
    misuse(("%s must be called as a method (client:%s())"):format(name, name), level)
  end
  if self._closed then misuse("attempt to use a closed client", level) end
  local call = CALLS[name]
  local o = opts == nil and options.NO_CALL_OPTIONS or options.call(opts, call.options, level)
  if call.check then arg = call.check(arg, level) end
  -- Not when the text is wanted: raw results, and trace logs of the body.
  if call.decodes then arg = not o.raw and self._logger == nil end

  local transport, sleep, now = self._transport, self._sleep, self._now
  if self._cosockets then
    transport, sleep, now = pick(self)
    if not transport then return nil, sleep end -- sleep is the "blocked" error
  end

  local source = self._source
  local token, err = o.access_token
  if not token then
    token, err = source:token(now, login_with, self, transport, sleep, now)
    if err then return nil, err end
    if not token then return nil, errors.new { kind = "auth", message = NO_TOKEN } end
  end

  local body = name == "set_idle_timeout" and arg or nil
  local res, attempts, decoded = send_with_retries(self, transport, sleep, now, call.send, token, o, arg, token, body,
    nil, answered)
  remember(self, res, attempts, decoded)
  if decoded then return res end
  if res.status == 401 and not o.access_token and source:forget(token) then
    token, err = source:token(now, login_with, self, transport, sleep, now)
    if not token then return nil, err end
    res, attempts, decoded = send_with_retries(self, transport, sleep, now, call.send, token, o, arg, token, body)
    remember(self, res, attempts, decoded)
    if decoded then return res end
  end
  if name == "verify" and res.status == 401 then
    return false, errors.from_response(res, secrets_of(self, token))
  end
  return result_of(self, call, res, token, o.raw)
end

-- Not tail calls: a tail call would drop the frame the error level counts.
function Client:me(opts)
  -- The most common call, with nothing for run() to decide: one C call,
  -- and run() only for what is not a TokenInfo (retries, errors).
  local token = opts == nil and getmetatable(self) == Client and not self._closed and direct_token[self]
  if token then
    local info, status = self._transport:me(token, false, true)
    if status then
      remember(self, info, 1, status)
      return info
    end
    local value, err = run(self, "me", nil, nil, 2, info)
    return value, err
  end
  local info, err = run(self, "me", opts, nil, 2)
  return info, err
end

function Client:verify(opts)
  local ok, err = run(self, "verify", opts, nil, 2)
  return ok, err
end

function Client:revoke_me(opts)
  local ok, err = run(self, "revoke_me", opts, nil, 2)
  return ok, err
end

function Client:revoke(user_id, opts)
  local ok, err = run(self, "revoke", opts, user_id, 2)
  return ok, err
end

function Client:idle_timeout(opts)
  local t, err = run(self, "idle_timeout", opts, nil, 2)
  return t, err
end

function Client:set_idle_timeout(value, opts)
  local t, err = run(self, "set_idle_timeout", opts, value, 2)
  return t, err
end

-- revoke_many; `level` as for run.
local function revoke_many(self, user_ids, opts, level)
  level = level + 1
  if getmetatable(self) ~= Client then
    misuse("revoke_many must be called as a method (client:revoke_many())", level)
  end
  if self._closed then misuse("attempt to use a closed client", level) end
  local transport, sleep, now = pick(self)
  if not transport then return nil, sleep end
  local source = self._source
  local fixed = type(opts) == "table" and type(opts.access_token) == "string" and opts.access_token or nil
  if fixed then options.check_token(fixed, level) end
  local current
  local ctx = {
    transport = transport, sleep = sleep, now = now, retry = self._retry,
    engine = transport == self._cosockets and "ngx" or "curl",
    can_renew = fixed == nil and source:logs_in(),
    token = function(renew)
      if fixed then return fixed end
      if renew then source:forget(current) end
      local token, err = source:token(now, login_with, self, transport, sleep, now)
      if err then return nil, err end
      if not token then return nil, errors.new { kind = "auth", message = NO_TOKEN } end
      current = token
      return token
    end,
    secrets = function()
      local list = source:secrets()
      list[#list + 1] = fixed
      return list
    end,
    log = function(res, attempt, duration)
      if self._logger then
        log.attempt(self._logger, { res = res, attempt = attempt, duration = duration, secrets = source:secrets() })
      end
      remember(self, res, attempt)
    end,
  }
  local results, err = bulk.run(ctx, user_ids, opts, level)
  return results, err
end

--- Revokes the tokens of many users at once (see bulk.lua and README).
function Client:revoke_many(user_ids, opts)
  local results, err = revoke_many(self, user_ids, opts, 2)
  return results, err
end

--- Closes the connection cache; idempotent. Calls afterwards raise.
function Client:close()
  if self._last == IN_CORE then self._last = self._transport:last_response() end
  self._closed = true
  self._transport:close()
  if self._cosockets then self._cosockets:close() end
end

Client.__close = Client.close
client.run = run
client.revoke_many = revoke_many

return client
