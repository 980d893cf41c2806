-- gate: an nginx access handler that lets a request reach the upstream
-- only with a Genesys Cloud access token the Tokens API accepts, and tells
-- the upstream whose it is (X-Genesys-Org-Id, X-Genesys-OAuth-Client-Id).
--
--   init_by_lua_block   { require("gate").setup { ttl = 60, negative_ttl = 10 } }  -- optional
--   access_by_lua_block { require("gate").check() }
--
-- Verdicts are cached in `lua_shared_dict genesys_gate` under a hash of the
-- token; the raw token is never stored or logged. See README.md beside this
-- file.
local ngx = ngx -- this module only runs inside nginx
local tokens = require "genesys.tokens"

local gate = {}

local settings = {
  ttl = 60,           -- seconds a valid token's verdict is reused
  negative_ttl = 10,  -- seconds a token Genesys Cloud refused stays refused
  timeout = 5,        -- seconds per attempt: a gate should fail fast, not hold requests 16 s
  connect_timeout = 2,
  -- A short retry budget for the same reason (502/503/504/429 and network errors).
  retry = { max_attempts = 2, base_delay = 0.1, max_delay = 1, budget = 1 },
}

local DICT = "genesys_gate"
local REALM = 'Bearer realm="genesys"'
local ORG_HEADER = "X-Genesys-Org-Id"
local CLIENT_HEADER = "X-Genesys-OAuth-Client-Id"
local REFUSED = "-" -- the cached value of a refused token; a valid one holds a tab
local MAX_TOKEN = 4096 -- longer is not a Genesys token, and stays far below the library's limit

--- Changes settings; call it from init_by_lua. Unknown keys raise.
function gate.setup(opts)
  for key, value in pairs(opts or {}) do
    if settings[key] == nil then error("gate: unknown setting '" .. tostring(key) .. "'", 2) end
    if key == "retry" then
      if value ~= false and type(value) ~= "table" then error("gate: retry must be a table or false", 2) end
    elseif type(value) ~= "number" or value <= 0 then
      error("gate: " .. key .. " must be a positive number of seconds", 2)
    end
    settings[key] = value
  end
end

local function env(name)
  local value = os.getenv(name) -- nginx keeps only the variables named by `env` directives
  if value ~= nil and value ~= "" then return value end
  return nil
end

-- One client per worker, made on first use: inside a request phase it
-- picks nginx cosockets, and no libcurl handle is shared across fork().
local client
local function get_client()
  if not client then
    client = tokens.new {
      region = env("GENESYSCLOUD_REGION"),
      base_url = env("GENESYSCLOUD_BASE_URL"),
      timeout = settings.timeout,
      connect_timeout = settings.connect_timeout,
      retry = settings.retry,
      user_agent = "genesys-nginx-gate",
    }
    -- A forgotten `env` directive would silently mean us-east-1: say where we check.
    ngx.log(ngx.NOTICE, "genesys gate: checking tokens at ", client.base_url)
  end
  return client
end

local function deny(www_authenticate)
  ngx.header["WWW-Authenticate"] = www_authenticate
  return ngx.exit(ngx.HTTP_UNAUTHORIZED)
end

-- The bearer token of the request, or nil when there is none or it is
-- not RFC 6750's b64token.
local function bearer_token()
  -- nginx answers 400 to a repeated Authorization header before we run.
  local value = ngx.var.http_authorization
  if not value then return nil end
  local token = value:match("^[Bb][Ee][Aa][Rr][Ee][Rr] +([%w%-%._~%+/]+=*) *$")
  if not token or #token > MAX_TOKEN then return nil end
  return token
end

-- A usable id from a TokenInfo entity (it goes into a request header).
local function id_of(entity)
  local id = type(entity) == "table" and entity.id
  if type(id) == "string" and id ~= "" and not id:find("%c") then return id end
  return nil
end

-- Asks Genesys Cloud. Returns the value to cache ("org\tclient" or
-- REFUSED), or nil, a reason and a Retry-After when there is no verdict
-- (nothing is cached then).
local function ask(token)
  local info, err = get_client():me { access_token = token, preserve_idle_ttl = true }
  if info then
    local org = id_of(info.organization)
    if not org then return nil, "TokenInfo without an organization id" end
    return org .. "\t" .. (id_of(info.OAuthClient) or "")
  end
  if err.kind == "http" and err.status == 401 then return REFUSED end
  -- The library's messages never carry the token, so the error may be logged.
  return nil, tostring(err), err.retry_after
end

--- The access handler: 401 without a valid token, 503 when Genesys Cloud
-- gives no verdict, otherwise on to the upstream with the identity headers.
function gate.check()
  -- Whatever the client sent under these names must never reach the upstream.
  ngx.req.clear_header(ORG_HEADER)
  ngx.req.clear_header(CLIENT_HEADER)

  local token = bearer_token()
  if not token then return deny(REALM) end

  local cache = ngx.shared[DICT]
  if not cache then error("gate: add `lua_shared_dict " .. DICT .. " 10m;` to the http block") end
  local key = ngx.encode_base64(ngx.sha1_bin(token))
  local verdict = cache:get(key)
  if not verdict then
    local problem, retry_after
    verdict, problem, retry_after = ask(token)
    if not verdict then
      ngx.log(ngx.WARN, "genesys gate: no verdict, answering 503: ", problem)
      if retry_after then ngx.header["Retry-After"] = retry_after end
      return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
    end
    local ttl = verdict == REFUSED and settings.negative_ttl or settings.ttl
    local ok, err = cache:set(key, verdict, ttl)
    if not ok then ngx.log(ngx.WARN, "genesys gate: could not cache a verdict: ", err) end
  end

  if verdict == REFUSED then return deny(REALM .. ', error="invalid_token"') end
  local org, oauth_client = verdict:match("^([^\t]*)\t(.*)$")
  ngx.req.set_header(ORG_HEADER, org)
  if oauth_client ~= "" then ngx.req.set_header(CLIENT_HEADER, oauth_client) end
end

return gate
