-- Where a client's bearer token comes from: a fixed access token, or the
-- OAuth client-credentials grant, whose token is cached and renewed
-- shortly before it expires (and once more after a 401 on it).
local core = require "genesys.tokens.core"
local errors = require "genesys.tokens.errors"
local json = require "genesys.tokens.json"

local auth = {}

local Source = {}
Source.__index = Source

-- Kept out of the source table, so that printing one shows no secret.
local secrets_of = setmetatable({}, { __mode = "k" })

--- A token source for validated settings.
function auth.new(settings)
  local self = setmetatable({ client_id = settings.client_id }, Source)
  secrets_of[self] = {
    access_token = settings.access_token,
    client_secret = settings.client_secret,
    -- What the login's Authorization header carries: a server may echo it.
    basic = settings.client_id and core.base64(settings.client_id .. ":" .. settings.client_secret),
  }
  return self
end

--- True when the tokens come from a client-credentials login.
function Source:logs_in()
  return self.client_id ~= nil
end

--- Every secret this source holds now, for redaction.
function Source:secrets()
  local s, list = secrets_of[self], {}
  for _, key in ipairs { "access_token", "client_secret", "basic", "obtained", "replaced" } do
    if s[key] then list[#list + 1] = s[key] end
  end
  return list
end

-- Renew this long before expiry: a tenth of the lifetime, at most 60 s.
local function margin(expires_in)
  return math.min(60, expires_in / 10)
end

--- The token to use now, or nil and an error. `now` is the clock;
-- login(a, b, client_id, client_secret) performs the grant (with the
-- client's retries) and returns the core's result.
function Source:token(now, login, a, b)
  local s = secrets_of[self]
  if not self.client_id then return s.access_token end
  local t = now()
  if s.obtained and t < s.renew_at then return s.obtained end
  -- Requests still in flight may be answered with the one replaced now.
  s.replaced, s.obtained = s.obtained or s.replaced, nil

  local res = login(a, b, self.client_id, s.client_secret)
  local secrets = self:secrets()
  if res.kind then
    return nil, errors.new({ kind = res.kind, code = res.code, correlation_id = res.correlation_id,
      message = "login failed: " .. tostring(res.message) }, secrets)
  end
  local body = json.decode_object(res.body)
  if res.status < 200 or res.status > 299 then
    local oauth_error = body and type(body.error) == "string" and body.error or nil
    local description = body and (type(body.error_description) == "string" and body.error_description
      or type(body.description) == "string" and body.description) or nil
    return nil, errors.new({ kind = "auth", status = res.status, code = oauth_error,
      correlation_id = res.correlation_id, retry_after = res.retry_after,
      message = "login failed: " .. (description or oauth_error or ("HTTP " .. res.status)) }, secrets)
  end
  local token = body and body.access_token
  local expires_in = body and body.expires_in
  -- The rule an access token given to us must meet (visible ASCII, at most
  -- 8 KiB), so that what the login gave cannot make the next call raise.
  local problem = type(token) ~= "string" and "no access_token" or core.token_problem(token)
  if not problem and (type(expires_in) ~= "number" or expires_in ~= expires_in) then problem = "no expires_in" end
  if problem then
    if type(token) == "string" then secrets[#secrets + 1] = token end
    return nil, errors.new({ kind = "auth", status = res.status, correlation_id = res.correlation_id,
      message = "login failed: the token response has no usable access_token and expires_in ("
        .. problem .. ")" }, secrets)
  end
  s.obtained = token
  s.renew_at = t + math.max(0, expires_in - margin(expires_in))
  return token
end

--- Forgets an obtained token that the API refused, so the next call logs
-- in again. True when there was one to forget.
function Source:forget(token)
  local s = secrets_of[self]
  if self.client_id and s.obtained == token then
    s.replaced, s.obtained = token, nil
    return true
  end
  return false
end

return auth
