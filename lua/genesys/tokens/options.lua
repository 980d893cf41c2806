-- Client options: which there are, their types and ranges, the defaults,
-- and the environment variables the default client reads. Misuse raises
-- at the caller (level 3 = the caller of the public function).
local core = require "genesys.tokens.core"
local errors = require "genesys.tokens.errors"
local regions = require "genesys.tokens.regions"
local retry = require "genesys.tokens.retry"
local log = require "genesys.tokens.log"

local ngx = ngx -- a global inside OpenResty only

local options = {}

options.DEFAULTS = {
  timeout = 16,          -- seconds, as the official SDKs
  connect_timeout = 5,   -- seconds
  max_body = 1024 * 1024 -- bytes; a TokenInfo is about 1 KiB
}

-- `level` 1 blames the function that calls fail, 2 its caller, and so on.
local function fail(message, level)
  error("genesys.tokens: " .. message, level + 1)
end

local shown = errors.shown

-- The longest settings accepted: anything longer is a mistake, and a
-- request head libcurl refuses would only fail later.
local MAX_TEXT = { ca_file = 4096, proxy = 4096, no_proxy = 4096, user_agent = 1024 }
local MAX_HEADER_NAME, MAX_HEADER_VALUE, MAX_HEADERS = 256, 8192, 100

local TYPES = {
  access_token = "string",
  region = "string",
  base_url = "string",
  timeout = "number",
  connect_timeout = "number",
  ca_file = "string",
  proxy = "string",
  user_agent = "string",
  headers = "table",
  max_body = "number",
  allow_http = "boolean",
  client_id = "string",
  client_secret = "string",
  login_url = "string",
  gateway = "table",
  no_proxy = "string",
  retry = { table = true, boolean = true },
  logger = "function",
  log_level = "string",
  log_bodies = "boolean",
  transport = "string",
  allow_blocking = "boolean",
}

local TRANSPORTS = { auto = true, curl = true, ngx = true }

local GATEWAY = { host = "string", port = "number", protocol = "string",
  api_path = "string", login_path = "string" }

-- Headers the client owns; a default header may not replace them.
local MANAGED_HEADERS = {
  authorization = true, host = true, ["content-length"] = true,
  ["transfer-encoding"] = true, connection = true, accept = true,
  ["content-type"] = true, ["user-agent"] = true, expect = true,
}

--- Refuses what cannot travel in an Authorization header (the rule is the
-- C core's, so both transports apply the same one).
function options.check_token(token, level)
  if type(token) ~= "string" then
    fail("access_token must be a string, got " .. type(token), level + 1)
  end
  local problem = core.token_problem(token)
  if problem then fail(problem, level + 1) end
end

--- Refuses a user id that cannot be sent as one path segment.
function options.check_user_id(id, level)
  if type(id) ~= "string" then
    fail("user id must be a string, got " .. type(id), level + 1)
  end
  local problem = core.user_id_problem(id)
  if problem then fail(problem, level + 1) end
end

local function is_loopback(host)
  host = host:lower()
  return host == "localhost" or host == "[::1]"
    or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

--- Checks a base URL (`what` names the option in messages); returns it
-- without a trailing slash.
function options.check_base_url(url, allow_http, level, what)
  what = what or "base_url"
  if #url > 2048 then fail(what .. " is too long", level + 1) end
  if url:find("[%c%s]") then fail(what .. " contains a space or a control character", level + 1) end
  local scheme, authority, path = url:match("^(%a[%w+.-]*)://([^/?#]*)([^?#]*)$")
  if not scheme then
    fail(("%s '%s' is not an http(s) URL without query or fragment"):format(what, url), level + 1)
  end
  scheme = scheme:lower()
  if scheme ~= "https" and scheme ~= "http" then
    fail(("%s scheme '%s' is not http or https"):format(what, scheme), level + 1)
  end
  if authority:find("@", 1, true) then
    fail(what .. " must not carry credentials", level + 1)
  end
  local host = authority:match("^(%[[%x:.]+%])") or authority:match("^([^:]+)")
  local port = authority:sub(#(host or "") + 1)
  if not host or not (port == "" or port:match("^:%d+$")) then
    fail(("%s '%s' has no valid host"):format(what, url), level + 1)
  end
  if scheme == "http" and not allow_http and not is_loopback(host) then
    fail(("refusing plain http:// to %s: a bearer token would cross the network "
      .. "in clear text (use https, or allow_http = true)"):format(host), level + 1)
  end
  return scheme .. "://" .. authority .. path:gsub("/+$", "")
end

-- libcurl counts in whole milliseconds, and 0 would mean "no limit".
local function check_seconds(value, name, level)
  if value ~= value or value < 0.001 or value > 86400 then
    fail(("%s must be a number of seconds from 0.001 to 86400"):format(name), level + 1)
  end
end

local function check_headers(headers, level)
  local lines = {}
  for name, value in pairs(headers) do
    if type(name) ~= "string" or #name > MAX_HEADER_NAME or not name:match("^[%w!#$%%&'*+.^_`|~-]+$") then
      fail(("headers: '%s' is not a valid header name"):format(shown(name)), level + 1)
    end
    if MANAGED_HEADERS[name:lower()] then
      fail(("headers: '%s' is set by the client and cannot be replaced"):format(name), level + 1)
    end
    if type(value) ~= "string" then
      fail(("headers: the value of '%s' must be a string"):format(name), level + 1)
    end
    if value:find("[%z\1-\8\10-\31\127]") then
      fail(("headers: the value of '%s' contains a control character"):format(name), level + 1)
    end
    -- libcurl would drop an empty "Name: " line without a word.
    if value == "" then fail(("headers: the value of '%s' is empty"):format(name), level + 1) end
    if #value > MAX_HEADER_VALUE then fail(("headers: the value of '%s' is too long"):format(name), level + 1) end
    lines[#lines + 1] = name .. ": " .. value
  end
  if #lines > MAX_HEADERS then fail(("headers: at most %d, got %d"):format(MAX_HEADERS, #lines), level + 1) end
  table.sort(lines) -- a stable order on the wire
  return lines
end

-- The variables libcurl takes a proxy from when none is set (it reads
-- HTTP_PROXY in lower case only), read when a client is made.
local PROXY_VARIABLES = { "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" }

local function proxy_in_environment()
  for _, name in ipairs(PROXY_VARIABLES) do
    local v = os.getenv(name)
    if v and v ~= "" then return true end
  end
  return false
end

-- The password of a proxy URL ("http://user:password@host"), if any.
local function proxy_password(url)
  local password = type(url) == "string" and url:match("^[%w+.-]*://[^/@]-:([^/@]*)@")
  return password ~= "" and password or nil
end

--- The proxy passwords in play: the option's and the environment's (which
-- libcurl reads), kept out of every error and log entry like a token.
function options.proxy_secrets(s)
  local list = { proxy_password(s.proxy) }
  for _, name in ipairs(PROXY_VARIABLES) do list[#list + 1] = proxy_password(os.getenv(name)) end
  return list
end

--- Validates a client's options; returns the normalised settings. Raises
-- on an unknown option, a wrong type or an impossible value.
function options.client(opts, level)
  level = (level or 1) + 1
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    fail("options must be a table, got " .. type(opts), level)
  end
  for key, value in pairs(opts) do
    local want = TYPES[key]
    if not want then fail(("unknown option '%s'"):format(shown(key)), level) end
    if type(want) == "table" and not want[type(value)] or type(want) == "string" and type(value) ~= want then
      fail(("option '%s' must be a %s, got %s"):format(key,
        type(want) == "table" and "table or false" or want, type(value)), level)
    end
  end

  local s = {
    timeout = opts.timeout or options.DEFAULTS.timeout,
    connect_timeout = opts.connect_timeout or options.DEFAULTS.connect_timeout,
    max_body = opts.max_body or options.DEFAULTS.max_body,
    ca_file = opts.ca_file,
    proxy = opts.proxy,
    user_agent = opts.user_agent,
    headers = {},
  }
  check_seconds(s.timeout, "timeout", level)
  check_seconds(s.connect_timeout, "connect_timeout", level)
  if s.max_body ~= s.max_body or s.max_body < 1 or s.max_body > 1024 ^ 3
      or s.max_body % 1 ~= 0 then
    fail("max_body must be a whole number of bytes from 1 to 1 GiB", level)
  end
  for _, name in ipairs { "ca_file", "proxy", "user_agent" } do
    local v = s[name]
    if v and (v == "" or v:find("%c")) then
      fail(("option '%s' is empty or contains a control character"):format(name), level)
    end
    if v and #v > MAX_TEXT[name] then fail(("option '%s' is too long"):format(name), level) end
  end
  if opts.headers then s.headers = check_headers(opts.headers, level) end

  if opts.no_proxy then
    if opts.no_proxy:find("%c") then fail("option 'no_proxy' contains a control character", level) end
    if #opts.no_proxy > MAX_TEXT.no_proxy then fail("option 'no_proxy' is too long", level) end
    s.no_proxy = opts.no_proxy
  elseif opts.proxy then
    s.no_proxy = "" -- a proxy given here applies to every host, whatever no_proxy says
  elseif not proxy_in_environment() then
    -- What libcurl would find in the environment on every request: no
    -- proxy. Saying so once spares it reading six variables each time.
    s.no_proxy = "*"
  end

  if opts.retry == true then fail("option 'retry' must be a table or false, got boolean", level) end
  s.retry = retry.policy(opts.retry, function(message) fail(message, level + 2) end)
  if opts.log_level ~= nil and not log.LEVELS[opts.log_level] then
    fail(("log_level must be one of none, error, debug, trace; got '%s'"):format(shown(opts.log_level)), level)
  end
  s.log_level, s.logger, s.log_bodies = opts.log_level or "none", opts.logger, opts.log_bodies

  options.credentials(opts, s, level)
  options.hosts(opts, s, level)
  options.transport(opts, s, level)
  return s
end

--- Which transport: libcurl ("curl"), nginx cosockets ("ngx"), or "auto"
-- (cosockets inside OpenResty, libcurl elsewhere).
function options.transport(opts, s, level)
  local name = opts.transport or "auto"
  if not TRANSPORTS[name] then
    fail(("transport must be auto, curl or ngx; got '%s'"):format(shown(name)), level + 1)
  end
  local in_nginx = type(ngx) == "table" and type(ngx.get_phase) == "function"
  if name == "ngx" and not in_nginx then
    fail("transport 'ngx' needs OpenResty (ngx.socket.tcp); outside nginx use 'curl' or 'auto'", level + 1)
  end
  s.transport, s.allow_blocking, s.in_nginx = name, opts.allow_blocking == true, in_nginx
  -- What cosockets cannot do must not be dropped silently inside nginx.
  if in_nginx and name ~= "curl" then
    if opts.ca_file then
      fail("ca_file applies to libcurl only: inside nginx, cosockets trust lua_ssl_trusted_certificate "
        .. "(set it in nginx.conf), or use transport = 'curl'", level + 1)
    end
    if opts.proxy then
      fail("proxy applies to libcurl only: nginx cosockets connect directly; use transport = 'curl'", level + 1)
    end
  end
end

--- Who the client is: a fixed access token, or an OAuth client that logs
-- in with the client-credentials grant (never both).
function options.credentials(opts, s, level)
  if opts.access_token ~= nil then
    options.check_token(opts.access_token, level + 1)
    s.access_token = opts.access_token
  end
  if opts.client_id ~= nil or opts.client_secret ~= nil then
    if s.access_token then
      fail("give access_token or client_id and client_secret, not both", level + 1)
    end
    if opts.client_id == nil or opts.client_secret == nil then
      fail("client_id and client_secret go together", level + 1)
    end
    local problem = core.credentials_problem(opts.client_id, opts.client_secret)
    if problem then fail(problem, level + 1) end
    s.client_id, s.client_secret = opts.client_id, opts.client_secret
  end
end

local function gateway_urls(gw, allow_http, level)
  for key, value in pairs(gw) do
    local want = GATEWAY[key]
    if not want then fail(("unknown gateway option '%s'"):format(shown(key)), level + 1) end
    if type(value) ~= want then
      fail(("gateway option '%s' must be a %s, got %s"):format(key, want, type(value)), level + 1)
    end
  end
  if not gw.host then fail("gateway needs a host", level + 1) end
  if not gw.host:match("^[%w.-]+$") and not gw.host:match("^%[[%x:.]+%]$") then
    fail(("gateway host '%s' is not a host name or address"):format(shown(gw.host)), level + 1)
  end
  local port = gw.port
  if port ~= nil and (port % 1 ~= 0 or port < 1 or port > 65535) then
    fail("gateway port must be a whole number from 1 to 65535", level + 1)
  end
  local origin = (gw.protocol or "https") .. "://" .. gw.host .. (port and (":" .. ("%d"):format(port)) or "")
  local function with(path)
    if not path or path == "" then return origin end
    return origin .. "/" .. path:gsub("^/+", "")
  end
  return options.check_base_url(with(gw.api_path), allow_http, level + 1, "gateway"),
    options.check_base_url(with(gw.login_path), allow_http, level + 1, "gateway")
end

--- Where requests go: base_url for the API, login_url for /oauth/token.
-- A region gives https://api.<domain> and https://login.<domain>; a
-- base_url its own origin (or login.<domain> for a region's API host),
-- unless login_url says otherwise; a gateway both, with its path prefixes.
function options.hosts(opts, s, level)
  if opts.gateway then
    if opts.base_url or opts.region then
      fail("give gateway, or region or base_url, not both", level + 1)
    end
    s.base_url, s.login_url = gateway_urls(opts.gateway, opts.allow_http, level + 1)
  elseif opts.base_url then
    s.base_url = options.check_base_url(opts.base_url, opts.allow_http, level + 1)
    local scheme, host, rest = s.base_url:match("^(%a+)://([^/:]+)(.*)$")
    -- Host names are case-insensitive, and 443 is https's own port.
    local domain = host and scheme:lower() == "https" and (rest == "" or rest == ":443")
      and host:lower():match("^api%.(.+)$")
    if domain and regions.domain(domain) then
      s.login_url = "https://login." .. domain
    else
      s.login_url = s.base_url:match("^%a+://[^/]+")
    end
  else
    local url, err = regions.base_url(opts.region or "us-east-1")
    if not url then fail(err, level + 1) end
    s.base_url = url
    s.login_url = url:gsub("^https://api%.", "https://login.")
  end
  if opts.login_url then
    s.login_url = options.check_base_url(opts.login_url, opts.allow_http, level + 1, "login_url")
  end
end

-- GENESYSCLOUD_* variable -> option, the names the Genesys CLI and the
-- Terraform provider use.
options.ENVIRONMENT = {
  { "GENESYSCLOUD_ACCESS_TOKEN", "access_token" },
  { "GENESYSCLOUD_OAUTHCLIENT_ID", "client_id" },
  { "GENESYSCLOUD_OAUTHCLIENT_SECRET", "client_secret" },
  { "GENESYSCLOUD_REGION", "region" },
  { "GENESYSCLOUD_BASE_URL", "base_url" },
}

-- Options that come as a group: one given replaces the whole group of the
-- environment's. An access token in the environment wins over an OAuth
-- client there, as in the Genesys CLI.
local GROUP = {
  access_token = "credentials", client_id = "credentials", client_secret = "credentials",
  region = "place", base_url = "place", gateway = "place",
}

--- `opts` completed from the GENESYSCLOUD_* environment variables.
function options.with_environment(opts, getenv)
  getenv = getenv or os.getenv
  local merged, given = {}, {}
  for k, v in pairs(opts or {}) do
    merged[k] = v
    if GROUP[k] then given[GROUP[k]] = true end
  end
  local env = {}
  for _, pair in ipairs(options.ENVIRONMENT) do
    local value = getenv(pair[1])
    if value and value ~= "" then env[pair[2]] = value end
  end
  if env.access_token then env.client_id, env.client_secret = nil, nil end
  for option, value in pairs(env) do
    if not given[GROUP[option]] then merged[option] = value end
  end
  return merged
end

-- What a call without options gets: shared, and only ever read.
local NO_OPTIONS = setmetatable({}, { __newindex = function() error("read-only", 2) end })
options.NO_CALL_OPTIONS = NO_OPTIONS

--- Validates a call's options against the keys that call accepts.
function options.call(opts, accepted, level)
  level = (level or 1) + 1
  if opts == nil then return NO_OPTIONS end
  if type(opts) ~= "table" then
    fail("call options must be a table, got " .. type(opts), level)
  end
  for key, value in pairs(opts) do
    local want = accepted[key]
    if not want then fail(("unknown call option '%s'"):format(shown(key)), level) end
    if type(value) ~= want then
      fail(("call option '%s' must be a %s, got %s"):format(key, want, type(value)), level)
    end
  end
  if opts.access_token ~= nil then
    options.check_token(opts.access_token, level)
  end
  return opts
end

return options
