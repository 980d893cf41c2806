--- A client: validated settings, a token source, a transport (the C core
-- over libcurl, or nginx cosockets), retries and logging, and the Tokens
-- calls as methods of a `Client`.
--
-- Make one with `genesys.tokens.new` (or `genesys.tokens.configure`).
-- Run-time failures return `nil, err` (an error object, see
-- `genesys.tokens.errors`); misuse raises at the caller of the method.
-- @module genesys.tokens.client
-- @usage
-- local client = tokens.new { access_token = token, region = "eu-west-1" }
-- local info, err = client:me { preserve_idle_ttl = true }
-- local ok, err = client:revoke(user_id)
-- client:close()
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

--- A client of the Tokens API. Each keeps one libcurl handle (so that its
-- connection stays alive across calls) and, when it logs in, its OAuth token.
-- Closed by `Client:close`, on garbage collection, and (Lua 5.4) as a
-- `local c <close>` variable. A call (`Client:me`, `Client:revoke_many`,
-- ...) on a closed client, or made without the colon, raises.
-- `client.base_url` is the API base URL it calls, `client.login_url` where
-- it posts its client-credentials login.
-- @type Client
local Client = {}
Client.__index = Client

local function misuse(message, level)
  error("genesys.tokens: " .. message, level + 1)
end

-- Waits outside nginx. The core's sleep ends early when a signal comes, so
-- that back in Lua the interpreter's Ctrl-C hook raises "interrupted!" at
-- once; after any other signal the wait goes on.
local function wait(seconds)
  local left = core.sleep(seconds)
  while left > 0 do left = core.sleep(left) end
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

--- A new client from options (see options.lua); raises on bad options.
-- `level` 1 blames the caller of client.new. Callers use tokens.new.
-- @local
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
  return setmetatable({
    base_url = s.base_url,
    login_url = s.login_url,
    _transport = transport,
    _cosockets = s.in_nginx and s.transport ~= "curl" and require("genesys.tokens.transport.ngx").new(s) or nil,
    _mode = s.transport,
    _allow_blocking = s.allow_blocking,
    _source = auth.new(s),
    _proxy_secrets = options.proxy_secrets(s),
    _retry = s.retry,
    _logger = log.new(s),
    _now = core.now,
    _sleep = wait,
  }, Client)
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

-- Puts the transport for this call, with its sleep and clock, into the
-- request `rq`; or returns the "blocked" error for an nginx phase where
-- only blocking I/O is possible.
local function pick(self, rq)
  rq.transport, rq.sleep, rq.now = self._transport, self._sleep, self._now
  if not self._cosockets then return rq end
  local phase = ngx.get_phase()
  if COSOCKET_PHASES[phase] then
    rq.transport, rq.sleep, rq.now = self._cosockets, ngx.sleep, require("genesys.tokens.transport.ngx").now
    return rq
  end
  if self._allow_blocking then return rq end
  return nil, errors.new { kind = "blocked", message = ("cannot call Genesys Cloud in nginx's %s phase "
    .. "without blocking the worker: call it from rewrite, access or content, or from "
    .. "ngx.timer.at(0, ...), or build the client with allow_blocking = true"):format(phase) }
end

-- Every secret in play, for scrubbing what leaves the library.
local function secrets_of(self, bearer)
  local list = self._source:secrets()
  list[#list + 1] = bearer
  for _, password in ipairs(self._proxy_secrets) do list[#list + 1] = password end
  return list
end

-- Sends rq (see run) with the retry policy, logging each attempt when a
-- logger is set; returns the core's result table and the attempt count.
local function send_with_retries(self, rq)
  local waited, attempt = 0, 0
  local logger = self._logger
  while true do
    attempt = attempt + 1
    -- A logger or another coroutine may have closed the client meanwhile.
    if self._closed then error("genesys.tokens: attempt to use a closed client", 0) end
    local started = logger and rq.now()
    local res = rq.send(rq.transport, rq)
    if logger then
      log.attempt(logger, { res = res, attempt = attempt, duration = rq.now() - started,
        secrets = secrets_of(self, rq.token), request_body = rq.body, is_login = rq.is_login })
    end
    -- Only a failure may be retried: a success does not ask the policy.
    local delay = (res.kind or res.status >= 400) and retry.delay(self._retry, attempt, res, waited)
    if not delay then return res, attempt end
    if delay > 0 then rq.sleep(delay) end
    waited = waited + delay
  end
end

local function send_login(t, rq) return t:login(rq.client_id, rq.client_secret) end

-- The login the token source asks for: the grant with the client's
-- retries, on the transport of the call that needs the token.
local function login(self, call_rq, client_id, client_secret)
  local rq = { send = send_login, client_id = client_id, client_secret = client_secret,
    body = "grant_type=client_credentials", is_login = true,
    transport = call_rq.transport, sleep = call_rq.sleep, now = call_rq.now }
  return (send_with_retries(self, rq))
end

-- The bearer token of each client's last response, kept out of the client
-- table (as the token source keeps its secrets): last_response() scrubs
-- with it, when asked.
local last_bearer = setmetatable({}, { __mode = "k" })

-- Keeps what last_response() gives.
local function remember(self, res, attempts, bearer)
  if not res.status then return end
  self._last, self._last_attempts, last_bearer[self] = res, attempts, bearer
end

--- What the last HTTP response this client received said, so that a
-- caller can pace itself. A call whose last attempt got no whole response
-- (a network failure, a timeout, an oversize body) leaves the previous
-- one. The correlation id is scrubbed of secrets, as a server may echo
-- anything there.
-- @treturn[opt] table a new table each time: `status`, `method`, `url`,
-- `attempts` (requests the call sent), `correlation_id`, `retry_after`
-- (seconds), `ratelimit = { count, allowed, reset }` (the
-- `inin-ratelimit-*` headers); `nil` before the first response
function Client:last_response()
  local res = self._last
  if not res then return nil end
  return {
    method = res.method, url = res.url, status = res.status, attempts = self._last_attempts,
    correlation_id = errors.redact(res.correlation_id, secrets_of(self, last_bearer[self])),
    retry_after = res.retry_after,
    ratelimit = { count = res.ratelimit_count, allowed = res.ratelimit_allowed, reset = res.ratelimit_reset },
  }
end

-- How each call is sent and what its success returns. `send(transport,
-- rq)` reads the request: token, opts and arg (see run).
local CALLS = {
  me = {
    options = { access_token = "string", preserve_idle_ttl = "boolean", raw = "boolean" },
    send = function(t, rq) return t:me(rq.token, rq.opts.preserve_idle_ttl == true) end,
    returns = "object",
  },
  verify = {
    options = { access_token = "string" },
    send = function(t, rq) return t:verify(rq.token) end,
    returns = "true",
  },
  revoke_me = {
    options = { access_token = "string" },
    send = function(t, rq) return t:revoke_me(rq.token) end,
    returns = "true",
  },
  revoke = {
    options = { access_token = "string" },
    check = function(user_id, level) options.check_user_id(user_id, level + 1) return user_id end,
    send = function(t, rq) return t:revoke(rq.token, rq.arg) end,
    returns = "true",
  },
  idle_timeout = {
    options = { access_token = "string", raw = "boolean" },
    send = function(t, rq) return t:idle_timeout(rq.token) end,
    returns = "object",
  },
  set_idle_timeout = {
    options = { access_token = "string" },
    check = function(value, level)
      local body, problem = idle_timeout.encode(value)
      if not body then misuse(problem, level + 1) end
      return body
    end,
    send = function(t, rq) return t:set_idle_timeout(rq.token, rq.arg) end,
    sends_body = true,
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
  local value, err = json.decode_object(res.body)
  if value and raw then return res.body end -- checked, but as the API sent it
  if not value then
    return nil, errors.new({ kind = "decode", status = res.status, message = err,
      correlation_id = res.correlation_id }, secrets_of(self, bearer))
  end
  return value
end

-- The bearer token for a call, or nil and the error. The token's expiry
-- is kept on the core's monotonic clock whatever the transport, so that a
-- client used on both (allow_blocking) compares like with like.
local function token_for(self, rq)
  local token, err = self._source:token(core.now, login, self, rq)
  if err then return nil, err end
  if not token then return nil, errors.new { kind = "auth", message = NO_TOKEN } end
  return token
end

-- Runs one call: validates, obtains a token, sends with retries (and once
-- more with a fresh token after a 401 on one it obtained itself), and
-- turns the answer into the call's result. `level` 1 blames the caller of
-- run, 2 its caller.
local function run(self, name, opts, arg, level)
  level = level + 1
  if getmetatable(self) ~= Client then
    misuse(("%s must be called as a method (client:%s())"):format(name, name), level)
  end
  if self._closed then misuse("attempt to use a closed client", level) end
  local call = CALLS[name]
  local o = options.call(opts, call.options, level)
  if call.check then arg = call.check(arg, level) end
  local rq, err = pick(self, { send = call.send, opts = o, arg = arg, body = call.sends_body and arg or nil })
  if not rq then return nil, err end

  local source = self._source
  rq.token = o.access_token
  if not rq.token then
    rq.token, err = token_for(self, rq)
    if not rq.token then return nil, err end
  end

  local res, attempts = send_with_retries(self, rq)
  remember(self, res, attempts, rq.token)
  if res.status == 401 and not o.access_token and source:forget(rq.token) then
    rq.token, err = token_for(self, rq)
    if not rq.token then return nil, err end
    res, attempts = send_with_retries(self, rq)
    remember(self, res, attempts, rq.token)
  end
  if name == "verify" and res.status == 401 then
    return false, errors.from_response(res, secrets_of(self, rq.token))
  end
  return result_of(self, call, res, rq.token, o.raw)
end

-- Not tail calls: a tail call would drop the frame the error level counts.

--- GET /api/v2/tokens/me: the TokenInfo of the token in use.
-- @tparam[opt] table opts call options: `access_token` (instead of the
-- client's), `preserve_idle_ttl` (true: sends `preserveIdleTTL=true`, so
-- that looking does not reset the token's idle timer), `raw` (true: the
-- JSON text as sent, once checked to be an object)
-- @treturn[1] table the TokenInfo (`organization`, `homeOrganization`,
-- `authorizedScope`, `OAuthClient`, ... as the API names them), or a string with `raw`
-- @treturn[2] nil on failure
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise on an unknown call option, a wrong type or an unusable
-- `access_token`; on a closed client
function Client:me(opts)
  local info, err = run(self, "me", opts, nil, 2)
  return info, err
end

--- HEAD /api/v2/tokens/me: is the token valid?
-- @tparam[opt] table opts call options: `access_token`
-- @treturn[1] boolean `true` for a valid token
-- @treturn[2] boolean `false` when the API answers 401 (an invalid token)
-- @treturn[2] genesys.tokens.errors.Error err
-- @treturn[3] nil for any other failure (Genesys Cloud unreachable, ...)
-- @treturn[3] genesys.tokens.errors.Error err
-- @raise on a bad call option; on a closed client
function Client:verify(opts)
  local ok, err = run(self, "verify", opts, nil, 2)
  return ok, err
end

--- DELETE /api/v2/tokens/me: log this token out.
-- @tparam[opt] table opts call options: `access_token` (the token to log out)
-- @treturn[1] boolean `true`
-- @treturn[2] nil on failure
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise on a bad call option; on a closed client
function Client:revoke_me(opts)
  local ok, err = run(self, "revoke_me", opts, nil, 2)
  return ok, err
end

--- DELETE /api/v2/tokens/{userId}: revoke every token of a user.
-- @string user_id the user's id, sent as one percent-encoded path segment
-- @tparam[opt] table opts call options: `access_token`
-- @treturn[1] boolean `true`
-- @treturn[2] nil on failure (an unknown user is the API's 404)
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise when `user_id` is not a string, is empty, longer than 1024 bytes,
-- holds a control character, or is `"me"`, `"timeout"`, `"."` or `".."` (any case);
-- on a bad call option; on a closed client
function Client:revoke(user_id, opts)
  local ok, err = run(self, "revoke", opts, user_id, 2)
  return ok, err
end

--- GET /api/v2/tokens/timeout: the organization's idle-token timeout.
-- @tparam[opt] table opts call options: `access_token`, `raw` (true: the
-- JSON text as sent)
-- @treturn[1] table the IdleTokenTimeout (`idleTokenTimeoutSeconds`,
-- `enableIdleTokenTimeout`, ...), or a string with `raw`
-- @treturn[2] nil on failure
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise on a bad call option; on a closed client
function Client:idle_timeout(opts)
  local t, err = run(self, "idle_timeout", opts, nil, 2)
  return t, err
end

--- PUT /api/v2/tokens/timeout: sets the organization's idle-token timeout.
-- @tparam table value the IdleTokenTimeout fields: `idleTokenTimeoutSeconds`
-- (whole seconds), `enableIdleTokenTimeout`, `inactivityTimeoutUnit`
-- (`"Minutes"` or `"Hours"`), `inactivityTimeoutGroupsEnabled`,
-- `inactivityTimeoutGroupBundles` (a list of
-- `{ priority, timeoutSeconds, inactivityTimeoutUnit, groups }`)
-- @tparam[opt] table opts call options: `access_token`
-- @treturn[1] table the IdleTokenTimeout the API stored
-- @treturn[2] nil on failure; a value out of the API's range is its 400
-- (`err.code == "bad.request"`)
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise when `value` is not a table, has an unknown field or a field of
-- the wrong type; on a bad call option; on a closed client
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
  local rq, err = pick(self, {})
  if not rq then return nil, err end
  local source = self._source
  local fixed = type(opts) == "table" and type(opts.access_token) == "string" and opts.access_token or nil
  if fixed then options.check_token(fixed, level) end
  local current
  local function secrets() return secrets_of(self, fixed) end
  local ctx = {
    transport = rq.transport, sleep = rq.sleep, now = rq.now, retry = self._retry,
    engine = rq.transport == self._cosockets and "ngx" or "curl",
    can_renew = fixed == nil and source:logs_in(),
    token = function(renew)
      if fixed then return fixed end
      if renew then source:forget(current) end
      local token, e = token_for(self, rq)
      current = token
      return token, e
    end,
    secrets = secrets,
    log = function(res, attempt, duration)
      if self._logger then
        log.attempt(self._logger, { res = res, attempt = attempt, duration = duration, secrets = secrets() })
      end
      remember(self, res, attempt, fixed or current)
    end,
  }
  local results
  results, err = bulk.run(ctx, user_ids, opts, level)
  return results, err
end

--- Revokes the tokens of many users at once: many
-- DELETE /api/v2/tokens/{userId} in flight, paced by the `inin-ratelimit-*`
-- headers, the whole batch pausing on a 429. Every input gets exactly one
-- result; a duplicate is revoked once; an invalid id is never sent.
-- README's Bulk revocation has the details.
-- @tparam {string,...} user_ids the user ids (a list)
-- @tparam[opt] table opts `concurrency` (whole, 1 to 256; default 8),
-- `on_progress` (`function(done, total, id, ok, err)`, called as each
-- distinct id finishes), `access_token` (instead of the client's),
-- `deadline` (seconds for the whole run)
-- @treturn[1] table the results: `results[i]` for `user_ids[i]`, with `id`,
-- `ok`, `err` (an error object; kind `"invalid"` for an id never sent,
-- `"stopped"` for one never started), `attempts` (requests sent) and
-- `duplicate` (true for a repeat of an earlier id); and the counts
-- `succeeded`, `failed` (invalid ones included), `invalid`, `duplicates`,
-- with `elapsed` (seconds) and `stopped` (why the run stopped early, when
-- its deadline passed)
-- @treturn[2] nil when the run cannot start (no credentials, a failed login,
-- an nginx phase where it would block)
-- @treturn[2] genesys.tokens.errors.Error err
-- @raise when `user_ids` is not a table, on an unknown option or a wrong
-- type, on a closed client; and again, once what was in flight is
-- reported to `on_progress` as not revoked, an error raised during the run
-- (Ctrl-C's `interrupted!`; an `on_progress` that raised, after what was
-- in flight finished)
-- @usage
-- local results = client:revoke_many(ids, { concurrency = 16 })
-- for _, r in ipairs(results) do
--   if not r.ok then print(r.id, r.err) end
-- end
-- print(results.succeeded, results.failed)
function Client:revoke_many(user_ids, opts)
  local results, err = revoke_many(self, user_ids, opts, 2)
  return results, err
end

--- Closes the client's connections; idempotent. Calls afterwards raise
-- (`Client:last_response` still answers).
function Client:close()
  self._closed = true
  self._transport:close()
  if self._cosockets then self._cosockets:close() end
end

Client.__close = Client.close
client.run = run
client.revoke_many = revoke_many

return client
