-- A client: validated settings, a transport (the C core over libcurl), and
-- the Tokens calls as methods. Runtime failures return nil, err; misuse
-- raises at the caller of the public function.
local core = require "genesys.tokens.core"
local errors = require "genesys.tokens.errors"
local json = require "genesys.tokens.json"
local options = require "genesys.tokens.options"

local client = {}

local Client = {}
Client.__index = Client

-- Access tokens are kept out of the client table, so printing or
-- serialising a client cannot show one.
local tokens_of = setmetatable({}, { __mode = "k" })

local function misuse(message, level)
  error("genesys.tokens: " .. message, level + 1)
end

--- A new client from options (see options.lua); raises on bad options.
-- `level` 1 blames the caller of client.new.
function client.new(opts, level)
  level = (level or 1) + 1
  local s = options.client(opts, level)
  local transport, err = core.new {
    base_url = s.base_url,
    timeout_ms = math.floor(s.timeout * 1000 + 0.5),
    connect_timeout_ms = math.floor(s.connect_timeout * 1000 + 0.5),
    max_body = s.max_body,
    ca_file = s.ca_file,
    proxy = s.proxy,
    user_agent = s.user_agent,
    headers = s.headers,
  }
  if not transport then misuse(err, level) end
  local self = setmetatable({ base_url = s.base_url, _transport = transport }, Client)
  tokens_of[self] = s.access_token
  return self
end

function Client:__tostring()
  return ("genesys.tokens client (%s)%s"):format(self.base_url,
    self._transport:closed() and " closed" or "")
end

-- What each call accepts besides the client's own settings.
local CALL_OPTIONS = {
  me = { access_token = "string", preserve_idle_ttl = "boolean" },
  revoke_me = { access_token = "string" },
  revoke = { access_token = "string" },
}

local NO_TOKEN = "no access token: set GENESYSCLOUD_ACCESS_TOKEN, or pass "
  .. "access_token to tokens.new{} or to the call"

-- Runs one call: validates, sends, and turns the core's answer into the
-- call's result. `level` 1 blames the caller of run, 2 its caller.
local function run(self, name, opts, user_id, level)
  level = level + 1
  if getmetatable(self) ~= Client then
    misuse(("%s must be called as a method (client:%s())"):format(name, name), level)
  end
  if self._transport:closed() then misuse("attempt to use a closed client", level) end
  local o = options.call(opts, CALL_OPTIONS[name], level)
  if name == "revoke" then options.check_user_id(user_id, level) end

  local token = o.access_token or tokens_of[self]
  if not token then return nil, errors.new { kind = "auth", message = NO_TOKEN } end
  local secrets = { token }

  local res, kind, code, message
  if name == "me" then
    res, kind, code, message = self._transport:me(token, o.preserve_idle_ttl == true)
  elseif name == "revoke_me" then
    res, kind, code, message = self._transport:revoke_me(token)
  else
    res, kind, code, message = self._transport:revoke(token, user_id)
  end
  if not res then return nil, errors.from_failure(kind, code, message, secrets) end
  if res.status < 200 or res.status > 299 then
    return nil, errors.from_response(res, secrets)
  end
  if name ~= "me" then return true end

  local info, err = json.decode_object(res.body)
  if not info then
    return nil, errors.new({ kind = "decode", status = res.status, message = err,
      correlation_id = res.correlation_id }, secrets)
  end
  return info
end

-- Not tail calls: a tail call would drop the frame the error level counts.
function Client:me(opts)
  local info, err = run(self, "me", opts, nil, 2)
  return info, err
end

function Client:revoke_me(opts)
  local ok, err = run(self, "revoke_me", opts, nil, 2)
  return ok, err
end

function Client:revoke(user_id, opts)
  local ok, err = run(self, "revoke", opts, user_id, 2)
  return ok, err
end

--- Closes the connection cache; idempotent. Calls afterwards raise.
function Client:close()
  self._transport:close()
end

Client.__close = Client.close
client.run = run
client.Client = Client

return client
