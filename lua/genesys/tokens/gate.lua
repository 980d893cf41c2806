--- genesys.tokens.gate: an nginx access gate that lets a request reach
-- the upstream only with a Genesys Cloud access token the Tokens API
-- accepts, of an organization (and optionally an OAuth client, with
-- scopes) the operator allows, and tells the upstream whose it is.
--
-- Verdicts live in a shared dict under an HMAC of the token, keyed by a
-- secret made at setup (in nginx's master, so every worker shares it);
-- the raw token is never stored or logged. One Genesys Cloud call answers
-- every concurrent request with the same uncached token, whatever the
-- worker count: the requests of one worker wait on a semaphore, the
-- workers on a lock in the dict. examples/nginx-gate/README.md is the
-- operator's guide: every setting, status code and metric.
-- @module genesys.tokens.gate
-- @usage
-- -- nginx.conf, http block: lua_shared_dict genesys_gate 10m;
-- init_by_lua_block   { require("genesys.tokens.gate").setup { orgs = { "<org id>" } } }
-- access_by_lua_block { require("genesys.tokens.gate").check() }    -- a gated location
-- content_by_lua_block { require("genesys.tokens.gate").metrics() } -- a /metrics location
local metrics = require "genesys.tokens.gate.metrics"
local settings = require "genesys.tokens.gate.settings"
local verdict = require "genesys.tokens.gate.verdict"
local tokens = require "genesys.tokens"

local ngx = ngx -- this module only runs inside nginx

local gate = {}

-- Key prefixes in the dict: a verdict, a validation's lock, its result
-- (for the workers that waited), the moment a token was forgotten.
local VERDICT, LOCK, RESULT, FORGOT = "v:", "l:", "r:", "f:"
local RESULT_TTL = 2          -- seconds a validation's result stays for other workers' waiters
local MAX_TOKEN = 4096        -- longer is not a Genesys token
local SECRET_BYTES = 32
local POLL_FIRST, POLL_MAX = 0.001, 0.02 -- seconds between looks at another worker's validation

local S          -- the settings, once setup ran
local key_of     -- token -> its key in the dict, under a secret made at setup and never logged
local dict, counters
local client     -- one per worker, made on its first validation (no handle crosses fork())
local flights = {} -- this worker's validations in flight, by key
local leading = {} -- the deadlines of those it leads (not waits for), by flight id
local flight_seq = 0

local function read_secret()
  local f, err = io.open("/dev/urandom", "rb")
  if not f then error("genesys.tokens.gate: cannot read /dev/urandom for the cache key: " .. tostring(err), 3) end
  local bytes = f:read(SECRET_BYTES)
  f:close()
  if not bytes or #bytes ~= SECRET_BYTES then error("genesys.tokens.gate: /dev/urandom gave too few bytes", 3) end
  return bytes
end

local function shared_dict(name, what)
  local d = ngx.shared[name]
  if not d then
    error(("genesys.tokens.gate: no shared dict '%s' (%s): add `lua_shared_dict %s 10m;` to the http block")
      :format(name, what, name), 4)
  end
  return d
end

-- The cache key of a token: HMAC-SHA1 (RFC 2104) under `secret` (at most
-- 64 bytes), on nginx's SHA-1 (ngx.sha1_bin). OpenSSL 3's one-shot HMAC(),
-- which ngx.hmac_sha1 calls, looks its algorithms up again on every call
-- and costs 2.3 times as much.
local function keyer(secret)
  local block = secret .. ("\0"):rep(64 - #secret)
  local function pad(byte)
    return (block:gsub(".", function(c) return string.char(bit.bxor(c:byte(), byte)) end))
  end
  local inner, outer = pad(0x36), pad(0x5c)
  return function(token)
    return VERDICT .. ngx.sha1_bin(outer .. ngx.sha1_bin(inner .. token))
  end
end
gate._keyer = keyer -- for the specs, which compare it with ngx.hmac_sha1

--- Sets the gate up: call it from `init_by_lua`, in nginx's master, so that
-- every worker shares the cache key's secret. Without `region` and
-- `base_url`, it reads `GENESYSCLOUD_BASE_URL` or `GENESYSCLOUD_REGION` now.
-- @tparam table opts the settings: `orgs` (required: a list of
-- organization ids, or `"*"`), `oauth_clients`, `scopes`, `ttl` (60),
-- `negative_ttl` (10), `stale_ttl` (0), `max_pending` (64),
-- `max_retry_after` (30), `timeout` (5), `connect_timeout` (2), `retry`,
-- `region`, `base_url`, `headers`, `hide_credentials`, `allow_preflight`,
-- `realm` (`"genesys"`), `dict` (`"genesys_gate"`), `metrics_dict` (`dict`)
-- @raise outside the init phase, or in a worker (`lua_code_cache off`); on
-- an unknown setting, a wrong type or value, a missing `orgs`, a shared
-- dict that does not exist, or a client the library would refuse (a bad
-- region or URL)
function gate.setup(opts)
  if not ngx or ngx.get_phase() ~= "init" then
    error("genesys.tokens.gate: call setup from init_by_lua, so that every worker shares its cache key", 2)
  end
  if require("ngx.process").type() == "worker" then -- lua_code_cache off runs init_by_lua in each worker
    error("genesys.tokens.gate: setup ran in a worker (lua_code_cache off?): the workers would not share "
      .. "their cache key, and would not see nginx's environment", 2)
  end
  local s = settings.parse(opts, 2)
  dict = shared_dict(s.dict, "setting 'dict'")
  counters = metrics.new(shared_dict(s.metrics_dict, "setting 'metrics_dict'"))

  -- Prebuilt answers and header lists, so the warm path only looks up.
  local realm = ('Bearer realm="%s"'):format(s.realm)
  s.challenge = realm
  s.challenge_invalid = realm .. ', error="invalid_token"'
  s.challenge_scope = s.scope_list and (realm .. ', error="insufficient_scope", scope="' .. s.scope_list .. '"')
  s.forward = {}
  for _, field in ipairs { "org", "oauth_client", "home_org", "scopes" } do
    if s.headers[field] then s.forward[#s.forward + 1] = { field = field, name = s.headers[field] } end
  end
  -- The identity headers the gate sets, as nginx's $http_ variables
  -- (which match dashes and underscores alike): whatever the client sent
  -- under these names is removed.
  s.strip, s.strip_names = {}, {}
  for _, h in ipairs(s.forward) do
    local lower = h.name:lower()
    s.strip[#s.strip + 1] = { lower = lower, var = "http_" .. lower:gsub("-", "_") }
    s.strip_names[lower] = true
  end

  key_of = keyer(read_secret())
  S, client, flights, leading = s, nil, {}, {}
  ngx.log(ngx.NOTICE, "genesys gate: checking tokens at ", s.base_url_shown)
end

local function get_client()
  if not client then client = tokens.new(S.client_options) end
  return client
end

-- Removes what the client sent under an identity header's name, in any
-- spelling nginx would pass on (case, or underscores for dashes).
local function strip_identity(s)
  local found = false
  for i = 1, #s.strip do
    if ngx.var[s.strip[i].var] ~= nil then found = true break end
  end
  if not found then return end
  for name in pairs(ngx.req.get_headers(0, true)) do
    if s.strip_names[name:lower():gsub("_", "-")] then ngx.req.clear_header(name) end
  end
end

-- The request's bearer token, or nil when there is none or it is not
-- RFC 6750's b64token (nginx answers 400 to a repeated Authorization).
local function bearer_token()
  local value = ngx.var.http_authorization
  if not value or #value > MAX_TOKEN + 64 then return nil end
  local token = value:match("^[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr] +([%w%-%._~%+/]+=*)[ \t]*$")
  if not token or #token > MAX_TOKEN then return nil end
  return token
end

-- -------------------------------------------------------------- validation

-- This worker's one call to Genesys Cloud for a token: returns the
-- verdict text (nil when there is none), a problem and a Retry-After.
-- Caches the verdict unless the token was forgotten meanwhile, and
-- leaves the result under `id` for other workers' waiters.
local function lead(s, key, token, id, lock)
  ngx.update_time()
  local started = ngx.now()
  local ok, info, err = pcall(function()
    return get_client():me { access_token = token, preserve_idle_ttl = true }
  end)
  ngx.update_time()
  local now = ngx.now()
  local text, keep, problem, retry_after
  if not ok then
    problem = "the gate failed: " .. tostring(info)
    counters:call(nil, now - started)
  elseif info then
    counters:call(200, now - started)
    text, keep = verdict.judge(info, s, now)
    if not text then problem, keep = keep, nil end
  else
    counters:call(err.status, now - started)
    if err.kind == "http" and err.status == 401 then
      text, keep = verdict.refused(s, now)
    else
      problem, retry_after = tostring(err), err.retry_after -- the library's messages carry no token
    end
  end
  if text and keep then
    local stored, why = dict:set(key, text, keep)
    if not stored then ngx.log(ngx.WARN, "genesys gate: could not cache a verdict: ", why) end
  end
  -- forget() ran during the call: the answer is this request's alone, and
  -- the requests waiting on it get none (they may have come after the forget).
  local forgot = dict:get(FORGOT .. key)
  local shared, shared_problem = text, problem
  if forgot and forgot >= started then
    dict:delete(key)
    shared, shared_problem = nil, "the token was forgotten during its validation"
  end
  dict:set(RESULT .. id, shared and ("V" .. shared) or ("N" .. (retry_after or "") .. "\t" .. shared_problem),
    RESULT_TTL)
  if lock then dict:delete(lock) end
  return text, problem, retry_after, shared, shared_problem
end

local function read_result(r)
  if r:sub(1, 1) == "V" then return r:sub(2) end
  local retry_after, problem = r:match("^N([^\t]*)\t(.*)$")
  return nil, problem, tonumber(retry_after)
end

-- Waits for the validation another worker holds `lock` for. Returns
-- done = false when the lock went without a result (its worker died).
local function follow(leader, lock, deadline)
  local step = POLL_FIRST
  while ngx.now() < deadline do
    ngx.sleep(step)
    step = math.min(step * 2, POLL_MAX)
    local r = dict:get(RESULT .. leader)
    if r then return true, read_result(r) end
    if dict:get(lock) ~= leader then
      r = dict:get(RESULT .. leader)
      if r then return true, read_result(r) end
      return false
    end
  end
  return true, nil, "timed out waiting for another worker's validation"
end

local SHED = "max_pending validations in flight"

-- How many validations this worker leads now. An entry whose deadline
-- passed belongs to a request thread that was killed before it could
-- remove it: it no longer counts.
local function leading_count(now)
  local n = 0
  for id, deadline in pairs(leading) do
    if deadline < now then leading[id] = nil else n = n + 1 end
  end
  return n
end

local function is_fresh(text)
  local _, fresh_until = verdict.read(text)
  return fresh_until > ngx.now()
end

-- The verdict for `key` across workers: leads the call when no worker
-- does, else waits for the one that does. The 4th result is the cache
-- result: "miss" (led it), "wait", "hit" (another worker's answer came
-- in meanwhile) or "shed".
local function across_workers(s, key, token, deadline)
  local lock = LOCK .. key
  repeat
    flight_seq = flight_seq + 1
    local id = ngx.worker.pid() .. ":" .. flight_seq
    local locked, err = dict:add(lock, id, s.flight_bound)
    if locked or err ~= "exists" then
      -- The worker that held the lock a moment ago may have just cached its answer.
      local cached = dict:get(key)
      if cached and is_fresh(cached) then
        if locked then dict:delete(lock) end
        return cached, nil, nil, "hit"
      end
      if not locked then ngx.log(ngx.WARN, "genesys gate: validating without a lock: ", err) end
      if leading_count(ngx.now()) >= s.max_pending then -- only a lead takes a place
        if locked then dict:delete(lock) end
        return nil, SHED, 1, "shed"
      end
      leading[id] = deadline
      local text, problem, retry_after, shared, shared_problem = lead(s, key, token, id, locked and lock)
      leading[id] = nil
      return text, problem, retry_after, "miss", shared, shared_problem
    end
    local leader = dict:get(lock)
    if leader then
      local done, text, problem, retry_after = follow(leader, lock, deadline)
      if done then return text, problem, retry_after, "wait" end
    end
  until ngx.now() >= deadline
  return nil, "timed out waiting for another worker's validation", nil, "wait"
end

local function keep_running() end

-- The verdict for `key`: this worker's requests for one token share one
-- validation. Returns text, problem, retry_after, and the cache result.
local function validate(s, key, token)
  local now = ngx.now()
  local f = flights[key]
  if f and f.deadline > now then
    f.waiters = f.waiters + 1
    if not f.sema:wait(f.deadline - now) then
      return nil, "timed out waiting for another request's validation", nil, "wait"
    end
    return f.text, f.problem, f.retry_after, "wait"
  end
  -- Others may come to wait on this request: with lua_check_client_abort
  -- on, its client hanging up must not kill it before it answers them.
  ngx.on_abort(keep_running)
  f = { sema = require("ngx.semaphore").new(), waiters = 0, deadline = now + s.flight_bound }
  flights[key] = f
  local ok, text, problem, retry_after, how, shared, shared_problem =
    pcall(across_workers, s, key, token, f.deadline)
  if flights[key] == f then flights[key] = nil end
  if not ok then
    text, problem, retry_after, how = nil, "the gate failed: " .. tostring(text), nil, "miss"
  end
  if how ~= "miss" then shared, shared_problem = text, problem end
  f.text, f.problem, f.retry_after = shared, shared_problem, retry_after
  if f.waiters > 0 then f.sema:post(f.waiters) end
  return text, problem, retry_after, how
end

-- -------------------------------------------------------------- answers

local function answer(s, text, stale)
  local kind = text:byte(1)
  if kind == 65 then -- "A"llowed
    counters:request(stale and "stale" or "allowed")
    local org, oauth_client, home_org, scopes = verdict.identity(text)
    local values = { org = org, oauth_client = oauth_client, home_org = home_org, scopes = scopes }
    for i = 1, #s.forward do
      local h = s.forward[i]
      local v = values[h.field]
      if v ~= "" then ngx.req.set_header(h.name, v) end
    end
    return
  end
  if kind == 82 then -- "R"efused
    counters:request("refused")
    ngx.header["WWW-Authenticate"] = s.challenge_invalid
    return ngx.exit(ngx.HTTP_UNAUTHORIZED)
  end
  counters:request("forbidden")
  if kind == 83 then ngx.header["WWW-Authenticate"] = s.challenge_scope end -- "S"cope
  return ngx.exit(ngx.HTTP_FORBIDDEN)
end

local function unavailable(s, problem, retry_after)
  counters:request("unavailable")
  ngx.log(problem == SHED and ngx.INFO or ngx.WARN,
    "genesys gate: no verdict, answering 503: ", problem)
  if retry_after then
    ngx.header["Retry-After"] = ("%d"):format(math.min(math.max(math.ceil(retry_after), 0), s.max_retry_after))
  end
  return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
end

--- The access handler, for `access_by_lua`. Removes identity headers the
-- client forged, then answers 401 without a valid token, 403 when its
-- organization, OAuth client or scopes are not allowed, 503 when Genesys
-- Cloud gives no verdict (a stale one serves when `stale_ttl` allows);
-- otherwise it returns and the request goes on to the upstream with the
-- identity headers set. A CORS preflight returns at once with
-- `allow_preflight`. Answers with `ngx.exit`.
-- @raise before `setup` ran (nginx answers 500)
function gate.check()
  local s = S
  if not s then error("genesys.tokens.gate: call gate.setup from init_by_lua first") end
  strip_identity(s)
  if s.allow_preflight and ngx.var.request_method == "OPTIONS" and ngx.var.http_origin
      and ngx.var.http_access_control_request_method then
    return counters:request("preflight")
  end
  local token = bearer_token()
  if not token then
    counters:request("refused")
    ngx.header["WWW-Authenticate"] = s.challenge
    return ngx.exit(ngx.HTTP_UNAUTHORIZED)
  end
  if s.hide_credentials then ngx.req.clear_header("Authorization") end

  local key = key_of(token)
  local cached = dict:get(key)
  local _, fresh, stale
  if cached then
    _, fresh, stale = verdict.read(cached)
    if fresh > ngx.now() then
      counters:cache("hit")
      return answer(s, cached, false)
    end
  end
  local text, problem, retry_after, how = validate(s, key, token)
  counters:cache(how)
  if text then return answer(s, text, false) end
  if cached and stale > ngx.now() then
    ngx.log(ngx.WARN, "genesys gate: no verdict, serving a stale one: ", problem)
    return answer(s, cached, true)
  end
  return unavailable(s, problem, retry_after)
end

--- Drops a token's cached verdict on every worker, and keeps a validation
-- in flight for it from caching or sharing its answer: call it after
-- revoking a token through the gate's client.
-- @string token the raw bearer token
-- @treturn boolean `true`
-- @raise when the token is not a string, or before `setup` ran
function gate.forget(token)
  if type(token) ~= "string" then error("genesys.tokens.gate: forget takes the token (a string)", 2) end
  if not S then error("genesys.tokens.gate: call gate.setup from init_by_lua first", 2) end
  local key = key_of(token)
  ngx.update_time()
  dict:set(FORGOT .. key, ngx.now(), S.flight_bound)
  dict:delete(key)
  return true
end

--- The request's bearer token, as `check` reads it: for a handler that
-- calls Genesys Cloud with it (to log it out, say).
-- @treturn[opt] string the token (an RFC 6750 b64token, at most 4 KiB), or
-- `nil` when the request has none or a malformed one
function gate.token()
  return bearer_token()
end

--- The client the gate validates with: one per worker, made on first
-- use, with the gate's region (or base URL), timeouts and retries, and no
-- credentials of its own (pass `access_token` to each call).
-- @treturn genesys.tokens.client.Client the client
-- @raise before `setup` ran
-- @usage
-- local token = gate.token()
-- if not token then return ngx.exit(ngx.HTTP_UNAUTHORIZED) end
-- local ok, err = gate.client():revoke_me { access_token = token }
-- if ok then gate.forget(token) end
function gate.client()
  if not S then error("genesys.tokens.gate: call gate.setup from init_by_lua first", 2) end
  return get_client()
end

--- The content handler of a metrics location, for `content_by_lua`:
-- prints the counters of every worker as Prometheus text (format 0.0.4):
-- `genesys_gate_requests_total`, `genesys_gate_cache_total`,
-- `genesys_gate_genesys_calls_total`, `genesys_gate_genesys_call_seconds`.
-- @raise before `setup` ran
function gate.metrics()
  if not S then error("genesys.tokens.gate: call gate.setup from init_by_lua first") end
  ngx.header["Content-Type"] = "text/plain; version=0.0.4"
  ngx.print(counters:render())
end

return gate
