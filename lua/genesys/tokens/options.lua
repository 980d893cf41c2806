-- Client options: which there are, their types and ranges, the defaults,
-- and the environment variables the default client reads. Misuse raises
-- at the caller (level 3 = the caller of the public function).
local core = require "genesys.tokens.core"
local regions = require "genesys.tokens.regions"

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
}

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

--- Checks a base URL; returns it without a trailing slash.
function options.check_base_url(url, allow_http, level)
  if #url > 2048 then fail("base_url is too long", level + 1) end
  if url:find("[%c%s]") then fail("base_url contains a space or a control character", level + 1) end
  local scheme, authority, path = url:match("^(%a[%w+.-]*)://([^/?#]*)([^?#]*)$")
  if not scheme then
    fail(("base_url '%s' is not an http(s) URL without query or fragment"):format(url), level + 1)
  end
  scheme = scheme:lower()
  if scheme ~= "https" and scheme ~= "http" then
    fail(("base_url scheme '%s' is not http or https"):format(scheme), level + 1)
  end
  if authority:find("@", 1, true) then
    fail("base_url must not carry credentials", level + 1)
  end
  local host = authority:match("^(%[[%x:.]+%])") or authority:match("^([^:]+)")
  local port = authority:sub(#(host or "") + 1)
  if not host or not (port == "" or port:match("^:%d+$")) then
    fail(("base_url '%s' has no valid host"):format(url), level + 1)
  end
  if scheme == "http" and not allow_http and not is_loopback(host) then
    fail(("refusing plain http:// to %s: a bearer token would cross the network "
      .. "in clear text (use https, or allow_http = true)"):format(host), level + 1)
  end
  return scheme .. "://" .. authority .. path:gsub("/+$", "")
end

local function check_seconds(value, name, level)
  if value ~= value or value <= 0 or value > 86400 then
    fail(("%s must be a number of seconds in (0, 86400]"):format(name), level + 1)
  end
end

local function check_headers(headers, level)
  local lines = {}
  for name, value in pairs(headers) do
    if type(name) ~= "string" or not name:match("^[%w!#$%%&'*+.^_`|~-]+$") then
      fail(("headers: '%s' is not a valid header name"):format(tostring(name)), level + 1)
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
    lines[#lines + 1] = name .. ": " .. value
  end
  table.sort(lines) -- a stable order on the wire
  return lines
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
    if not want then fail(("unknown option '%s'"):format(tostring(key)), level) end
    if type(value) ~= want then
      fail(("option '%s' must be a %s, got %s"):format(key, want, type(value)), level)
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
  end
  if opts.headers then s.headers = check_headers(opts.headers, level) end
  if opts.access_token ~= nil then
    options.check_token(opts.access_token, level)
    s.access_token = opts.access_token
  end

  if opts.base_url then
    s.base_url = options.check_base_url(opts.base_url, opts.allow_http, level)
  else
    local url, err = regions.base_url(opts.region or "us-east-1")
    if not url then fail(err, level) end
    s.base_url = url
  end
  return s
end

-- GENESYSCLOUD_* variable -> option, the names the Genesys CLI and the
-- Terraform provider use.
options.ENVIRONMENT = {
  { "GENESYSCLOUD_ACCESS_TOKEN", "access_token" },
  { "GENESYSCLOUD_REGION", "region" },
  { "GENESYSCLOUD_BASE_URL", "base_url" },
}

--- `opts` completed from the environment: an option given wins, and a
-- region or base_url given replaces both of the environment's.
function options.with_environment(opts, getenv)
  getenv = getenv or os.getenv
  local merged = {}
  for k, v in pairs(opts or {}) do merged[k] = v end
  local place_given = merged.region ~= nil or merged.base_url ~= nil
  for _, pair in ipairs(options.ENVIRONMENT) do
    local variable, option = pair[1], pair[2]
    local value = getenv(variable)
    local is_place = option == "region" or option == "base_url"
    if merged[option] == nil and value and value ~= "" and not (is_place and place_given) then
      merged[option] = value
    end
  end
  return merged
end

--- Validates a call's options against the keys that call accepts.
function options.call(opts, accepted, level)
  level = (level or 1) + 1
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    fail("call options must be a table, got " .. type(opts), level)
  end
  for key, value in pairs(opts) do
    local want = accepted[key]
    if not want then fail(("unknown call option '%s'"):format(tostring(key)), level) end
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
