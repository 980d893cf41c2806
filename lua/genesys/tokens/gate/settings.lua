-- The gate's settings: which there are, their types and ranges, and the
-- defaults. `settings.parse` raises on misuse, naming the setting; it
-- needs no nginx, so plain Lua can test it.
local retry = require "genesys.tokens.retry"
local tokens = require "genesys.tokens"

local settings = {}

-- The identity headers the gate can set for the upstream, by what they
-- carry; `false` leaves one out. Whatever the client sent under the name
-- of a header the gate sets never reaches the upstream.
settings.HEADERS = {
  org = "X-Genesys-Org-Id",             -- organization.id: the org the token acts in
  oauth_client = "X-Genesys-OAuth-Client-Id", -- OAuthClient.id
  home_org = false,                      -- homeOrganization.id (differs for a trustee's clone)
  scopes = false,                        -- authorizedScope, space-separated
}
settings.DEFAULT_HEADER_NAMES = {
  org = "X-Genesys-Org-Id", oauth_client = "X-Genesys-OAuth-Client-Id",
  home_org = "X-Genesys-Home-Org-Id", scopes = "X-Genesys-Scopes",
}

local DEFAULTS = {
  orgs = nil,             -- required: a list of organization ids, or "*"
  oauth_clients = nil,    -- optional allowlist of OAuth client ids
  scopes = nil,           -- optional: each must be in authorizedScope
  ttl = 60,               -- seconds a verdict on a valid token is reused
  negative_ttl = 10,      -- seconds a token Genesys Cloud refused stays refused (0: not cached)
  stale_ttl = 0,          -- seconds past ttl a valid verdict may serve while Genesys Cloud gives none
  max_pending = 64,       -- cold validations in flight per worker
  max_retry_after = 30,   -- cap on a Retry-After passed on to clients
  timeout = 5,            -- seconds per attempt: a gate fails fast
  connect_timeout = 2,
  retry = { max_attempts = 2, base_delay = 0.1, max_delay = 1, budget = 1 },
  region = nil,           -- else GENESYSCLOUD_REGION
  base_url = nil,         -- else GENESYSCLOUD_BASE_URL (wins over a region)
  dict = "genesys_gate",  -- the lua_shared_dict of verdicts
  metrics_dict = nil,     -- the lua_shared_dict of counters (default: dict)
  realm = "genesys",
  hide_credentials = false, -- true: the upstream never sees Authorization
  allow_preflight = false,  -- true: CORS preflights pass without a token
  headers = nil,          -- names of the identity headers (see HEADERS)
}

local TYPES = {
  ttl = "number", negative_ttl = "number", stale_ttl = "number", max_pending = "number",
  max_retry_after = "number", timeout = "number", connect_timeout = "number",
  region = "string", base_url = "string", dict = "string", metrics_dict = "string",
  realm = "string", hide_credentials = "boolean", allow_preflight = "boolean",
  headers = "table", orgs = true, oauth_clients = "table", scopes = "table", retry = true,
}

-- The smallest value of each number (and whether it must be whole).
local MINIMUM = {
  ttl = 0.001, negative_ttl = 0, stale_ttl = 0, max_pending = 1, max_retry_after = 1,
  timeout = 0.001, connect_timeout = 0.001,
}
local WHOLE = { max_pending = true }
local MAX_SECONDS = 86400 * 365

local function fail(message, level)
  error("genesys.tokens.gate: " .. message, level + 1)
end

-- Ids and scopes go into headers and WWW-Authenticate: visible ASCII
-- without quotes, backslashes or spaces (RFC 6750's scope-token).
local function check_word(value, what, level)
  if type(value) ~= "string" or value == "" or #value > 1024 or value:find('[^\33-\126]') or value:find('["\\]') then
    fail(what .. " must be non-empty visible ASCII without spaces, quotes or backslashes", level + 1)
  end
end

local function check_list(list, name, level)
  if type(list) ~= "table" or list[1] == nil then
    fail(("'%s' must be a non-empty list of strings"):format(name), level + 1)
  end
  local set = {}
  for k, v in pairs(list) do
    if type(k) ~= "number" or k % 1 ~= 0 or k < 1 or k > #list then
      fail(("'%s' must be a list (a sequence), not a table with key %s"):format(name, tostring(k)), level + 1)
    end
    check_word(v, ("the entries of '%s'"):format(name), level + 1)
    set[v] = true
  end
  return set
end

-- The name of an identity header.
local function check_header_name(value, what, level)
  -- Letters, digits and dashes: nginx's $http_ variables then find every
  -- spelling of it, underscores for dashes included.
  if type(value) ~= "string" or not value:find("^%w[%w%-]*$") or #value > 256 then
    fail(what .. " must be a header name (letters, digits, dashes) or false", level + 1)
  end
end

-- Headers nginx, the proxy or the gate itself own: an identity header of
-- one of these names would break the request or be dropped on the way.
local RESERVED = {}
for name in ([[authorization host content-length content-type transfer-encoding connection keep-alive
  te trailer upgrade expect cookie proxy-authorization proxy-connection]]):gmatch("%S+") do
  RESERVED[name] = true
end

local function headers_setting(value, level)
  local out = {}
  for k, v in pairs(settings.HEADERS) do out[k] = v end
  for k, v in pairs(value or {}) do
    if settings.HEADERS[k] == nil then
      fail(("unknown header '%s' in 'headers' (known: org, oauth_client, home_org, scopes)"):format(tostring(k)),
        level + 1)
    end
    if v == true then v = settings.DEFAULT_HEADER_NAMES[k] end
    if v ~= false then
      check_header_name(v, ("headers.%s"):format(k), level + 1)
      if RESERVED[v:lower()] then fail(("headers.%s may not be %s"):format(k, v), level + 1) end
    end
    out[k] = v
  end
  local seen = {}
  for k, v in pairs(out) do
    if v then
      local lower = v:lower():gsub("_", "-")
      if seen[lower] then fail(("headers.%s and headers.%s have one name: %s"):format(seen[lower], k, v), level + 1) end
      seen[lower] = k
    end
  end
  return out
end

--- The settings from `opts` with defaults filled in; raises at the
-- caller's caller (`level` 2 = who called gate.setup) on misuse.
function settings.parse(opts, level)
  level = (level or 1) + 1
  if type(opts) ~= "table" then fail("setup takes a table of settings", level) end
  for k, v in pairs(opts) do
    local want = TYPES[k]
    if want == nil then fail(("unknown setting '%s'"):format(tostring(k)), level) end
    if want ~= true and type(v) ~= want then
      fail(("setting '%s' must be a %s, got %s"):format(k, want, type(v)), level)
    end
    if want == "number" then
      if v ~= v or v < MINIMUM[k] or v > MAX_SECONDS or (WHOLE[k] and v % 1 ~= 0) then
        fail(("setting '%s' must be a %snumber from %s to %d"):format(k, WHOLE[k] and "whole " or "",
          tostring(MINIMUM[k]), MAX_SECONDS), level)
      end
    end
  end

  local s = {}
  for k, v in pairs(DEFAULTS) do s[k] = v end
  for k, v in pairs(opts) do s[k] = v end

  if s.orgs == nil then
    fail("setting 'orgs' is required: the list of organization ids whose tokens pass, "
      .. 'or "*" for every organization', level)
  end
  if s.orgs == "*" then
    s.org_set = nil
  elseif type(s.orgs) == "table" then
    s.org_set = check_list(s.orgs, "orgs", level)
    if s.org_set["*"] then fail('setting \'orgs\' lists "*": for every organization, write orgs = "*"', level) end
  else
    fail("setting 'orgs' must be a list of organization ids or \"*\", got " .. type(s.orgs)
      .. (type(s.orgs) == "string" and (" " .. ("%q"):format(s.orgs:sub(1, 64))) or ""), level)
  end
  if opts.oauth_clients ~= nil then s.client_set = check_list(s.oauth_clients, "oauth_clients", level) end
  if opts.scopes ~= nil then
    check_list(s.scopes, "scopes", level)
    s.scope_list = table.concat(s.scopes, " ")
  end
  if s.retry ~= false and type(s.retry) ~= "table" then
    fail("setting 'retry' must be a table (the library's retry option) or false", level)
  end
  if type(s.realm) ~= "string" or s.realm == "" or #s.realm > 256 or s.realm:find('[^\32-\126]')
      or s.realm:find('["\\]') then
    fail("setting 'realm' must be printable ASCII without quotes or backslashes", level)
  end
  check_word(s.dict, "setting 'dict'", level)
  s.metrics_dict = s.metrics_dict or s.dict
  check_word(s.metrics_dict, "setting 'metrics_dict'", level)
  s.headers = headers_setting(opts.headers, level)

  -- Where tokens are checked, read now (nginx's master still has its whole
  -- environment; workers see only what `env` directives name).
  local function env(name)
    local v = os.getenv(name)
    if v ~= nil and v ~= "" then return v end
  end
  if s.base_url == nil and s.region == nil then
    s.base_url, s.region = env("GENESYSCLOUD_BASE_URL"), env("GENESYSCLOUD_REGION")
  end
  s.client_options = {
    region = s.region, base_url = s.base_url, timeout = s.timeout, connect_timeout = s.connect_timeout,
    retry = s.retry, user_agent = "genesys-nginx-gate",
  }
  -- The library checks the rest (an unknown region, a bad URL, the retry
  -- fields) as it makes a client; one made now and closed says so at setup.
  local ok, client = pcall(tokens.new, s.client_options)
  if not ok then fail((tostring(client):gsub("^.-genesys%.tokens: ", "")), level) end
  s.base_url_shown = client.base_url
  client:close()

  -- The longest a request may wait for one verdict: every attempt's
  -- timeout and the retry budget, and a second to spare.
  local policy = retry.policy(s.retry, function(m) fail(m, level + 2) end)
  s.flight_bound = (policy and policy.max_attempts or 1) * s.timeout + (policy and policy.budget or 0) + 1
  return s
end

return settings
