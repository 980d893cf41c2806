-- Where a client's bearer token comes from: a fixed access token, or the
-- OAuth client-credentials grant, whose token is cached and renewed
-- shortly before it expires (and once more after a 401 on it).
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
  for _, key in ipairs { "access_token", "client_secret", "obtained" } do
    if s[key] then list[#list + 1] = s[key] end
  end
  return list
end

-- Renew this long before expiry: a tenth of the lifetime, at most 60 s.
local function margin(expires_in)
  return math.min(60, expires_in / 10)
end

--- The token to use now, or nil and an error. `now` is the clock;
-- make_login(a, b, c, d) gives the function that performs the grant (with
-- the client's retries) and returns the core's result: it is only made,
-- and the clock only read, when a login is due.
function Source:token(now, make_login, a, b, c, d)
  local s = secrets_of[self]
  if not self.client_id then return s.access_token end
  local t = now()
  if s.obtained and t < s.renew_at then return s.obtained end
  s.obtained = nil

  local res = make_login(a, b, c, d)(self.client_id, s.client_secret)
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
  if type(token) ~= "string" or token == "" or token:find("[^\33-\126]") or type(expires_in) ~= "number" then
    return nil, errors.new({ kind = "auth", status = res.status, correlation_id = res.correlation_id,
      message = "login failed: the token response has no usable access_token and expires_in" }, secrets)
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
    s.obtained = nil
    return true
  end
  return false
end

return auth
